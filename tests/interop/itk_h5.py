"""ITK HDF5 transform files with h5py, independently of RegPS.

usage:
  itk_h5.py dump FILE.h5
      prints, as JSON, every /TransformGroup/N with its TransformType, the dtypes, lengths and values of
      TransformParameters and TransformFixedParameters (parameters of a displacement field: first 12 and sum).
  itk_h5.py layouts DIR
      writes the same ITK file (an affine, parameters 2 0.1 0 0 3 0.2 0.3 0 4 5 6 7, fixed 0.5 0.25 0.125) in the HDF5 layouts h5py and
      libhdf5 produce: earliest.h5 (old-style groups, version 1 headers), latest.h5 (version 2 headers, compact
      links), v110.h5, chunked.h5 (chunked and gzip-compressed parameters), attributes.h5 (attributes on the file
      and the groups), fixed-string.h5 (TransformType as a fixed-length string), many.h5 (10 transforms, old-style
      groups), and dense.h5 (10 transforms with version 2 headers: links in dense storage); prints the names.
  itk_h5.py compose OUT.h5 AFFINE.txt WARP.nii.gz
      writes an ITK composite [affine, warp] (ITK's layout, what antsRegistration writes) from an ITK text affine and
      an ITK/ANTs displacement-field NIfTI (vectors in LPS mm, intent 1007): the affine's numbers are copied, the
      field's grid is converted from nibabel's RAS affine to ITK's LPS size/origin/spacing/direction.
"""
import json
import sys

import h5py
import nibabel as nib
import numpy as np


def dump(path):
    out = []
    with h5py.File(path, "r") as f:
        group = f["TransformGroup"]
        for name in sorted(group.keys(), key=int):
            g = group[name]
            t = g["TransformType"]
            entry = {
                "name": name,
                "type": t[0].decode() if isinstance(t[0], bytes) else str(t[0]),
                "typeShape": list(t.shape),
                "members": sorted(g.keys()),
            }
            for key in ("TransformParameters", "TransformFixedParameters"):
                if key in g:
                    v = np.asarray(g[key])
                    entry[key] = {
                        "dtype": str(v.dtype),
                        "shape": list(v.shape),
                        "head": [float(x) for x in v.ravel()[:12]],
                        "sum": float(np.sum(v, dtype=np.float64)),
                        "values": [float(x) for x in v.ravel()] if v.size <= 64 else None,
                    }
            out.append(entry)
    print(json.dumps(out))


def read_itk_text(path):
    params = fixed = None
    for line in open(path):
        if line.startswith("Parameters:"):
            params = [float(x) for x in line.split(":", 1)[1].split()]
        elif line.startswith("FixedParameters:"):
            fixed = [float(x) for x in line.split(":", 1)[1].split()]
    return np.array(params), np.array(fixed)


def compose(out, affine_txt, warp_nii):
    params, fixed = read_itk_text(affine_txt)
    img = nib.load(warp_nii)
    data = np.asarray(img.dataobj, dtype=np.float64)  # (X, Y, Z, 1, 3), LPS vectors
    assert data.ndim == 5 and data.shape[3] == 1 and data.shape[4] == 3, data.shape
    flip = np.diag([-1.0, -1.0, 1.0])
    a = flip @ img.affine[:3, :3]          # LPS direction * spacing
    spacing = np.sqrt((a ** 2).sum(axis=0))
    direction = a / spacing
    origin = flip @ img.affine[:3, 3]
    size = np.array(data.shape[:3], dtype=np.float64)
    # ITK's parameters: vectors, x fastest, components interleaved -> C order of (Z, Y, X, 3)
    vectors = np.transpose(data[:, :, :, 0, :], (2, 1, 0, 3)).ravel()
    with h5py.File(out, "w") as f:
        g = f.create_group("TransformGroup")
        g0 = g.create_group("0")
        g0.create_dataset("TransformType", data=[b"CompositeTransform_double_3_3"], dtype=h5py.string_dtype("ascii"))
        g1 = g.create_group("1")
        g1.create_dataset("TransformType", data=[b"AffineTransform_double_3_3"], dtype=h5py.string_dtype("ascii"))
        g1.create_dataset("TransformParameters", data=params.astype(np.float64))
        g1.create_dataset("TransformFixedParameters", data=fixed.astype(np.float64))
        g2 = g.create_group("2")
        g2.create_dataset("TransformType", data=[b"DisplacementFieldTransform_float_3_3"], dtype=h5py.string_dtype("ascii"))
        g2.create_dataset("TransformParameters", data=vectors.astype(np.float32))
        g2.create_dataset("TransformFixedParameters",
                          data=np.concatenate([size, origin, spacing, direction.ravel()]).astype(np.float64))


PARAMETERS = [2, 0.1, 0, 0, 3, 0.2, 0.3, 0, 4, 5, 6, 7]


def layouts(out):
    import os
    vlen = h5py.special_dtype(vlen=bytes)

    def write(name, n=1, libver="earliest", chunks=False, attributes=False, fixed=False):
        with h5py.File(os.path.join(out, name), "w", libver=libver) as f:
            group = f.create_group("TransformGroup")
            for i in range(n):
                g = group.create_group(str(i))
                kind = "AffineTransform_double_3_3"
                if fixed:
                    g.create_dataset("TransformType", data=np.array([kind.encode()], dtype="S40"))
                else:
                    g.create_dataset("TransformType", data=np.array([kind.encode()], dtype=vlen))
                extra = dict(chunks=(2,), compression="gzip") if chunks else {}
                g.create_dataset("TransformParameters", data=np.array(PARAMETERS), **extra)
                g.create_dataset("TransformFixedParameters", data=np.array([0.5, 0.25, 0.125]), **extra)
                if attributes:
                    g.attrs["note"] = "written by h5py"
                    g.attrs["values"] = np.arange(5.0)
            if attributes:
                f.attrs["ITKVersion"] = "5.4"
        print(name)

    write("earliest.h5")
    write("latest.h5", libver="latest")
    write("v110.h5", libver=("v110", "latest"), attributes=True)
    write("chunked.h5", chunks=True)
    write("attributes.h5", attributes=True)
    write("fixed-string.h5", fixed=True)
    write("many.h5", n=10)
    write("dense.h5", n=10, libver="latest")


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2])
    elif sys.argv[1] == "layouts":
        layouts(sys.argv[2])
    elif sys.argv[1] == "compose":
        compose(*sys.argv[2:5])
    else:
        sys.exit("unknown command " + sys.argv[1])
