#!/usr/bin/env python3
"""NIfTI interop between nibabel and RegPS (used by tests/RegPS.Engine.Tests/IO/NibabelInteropTests.cs).

  nifti_interop.py write DIR
      Writes one file per case into DIR with nibabel (every datatype, both byte orders, NIfTI-2, 4-D, 5-D vector,
      scaled int16, qform only, sform, pixdim only, .nii.gz, .hdr/.img, .img.gz pairs, .nii.bz2, multi-member gzip,
      RGB24, RGBA32, 2-D, extensions). For each case CASE it writes CASE.f64: nibabel's get_fdata() in Fortran order (x fastest),
      float64 little-endian (for RGB24/RGBA32: luminance 0.299 R + 0.587 G + 0.114 B of every voxel, then the R, G and B planes
      of the first volume). Prints a JSON list of {case, file, shape, affine, dtype, rgb}.

  nifti_interop.py describe FILE...
      Loads each file with nibabel; writes FILE.f64 (get_fdata(), Fortran order, float64 LE) and prints a JSON list of
      {file, shape, affine, sform, qform, sform_code, qform_code, dtype, slope, inter, descrip, intent_code, xyzt_units,
      pixdim, dim}.
"""
import bz2
import gzip
import json
import os
import struct
import sys
import warnings

import numpy as np
import nibabel as nib

warnings.simplefilter("ignore")

SHAPE = (5, 6, 7)


def oblique(zooms=(1.5, 2.0, 2.5), offset=(-40.0, 12.5, 30.25), angles=(0.3, -0.2, 0.45)):
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    a = np.eye(4)
    a[:3, :3] = rz @ ry @ rx @ np.diag(zooms)
    a[:3, 3] = offset
    return a


def values(dtype, shape=SHAPE, seed=0):
    """Values spanning the type: its extremes, zero, and random values in range (NaN/inf for floats)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, size=n, dtype=dt, endpoint=True)
        v[:3] = [info.min, info.max, 0]
    else:
        v = (rng.standard_normal(n) * 1000).astype(dt)
        v[:6] = [np.nan, np.inf, -np.inf, 0.0, np.finfo(dt).max, np.finfo(dt).tiny]
    return v.reshape(shape, order="F")


def dump(path, arr):
    np.asarray(arr, dtype="<f8").ravel(order="F").tofile(path)


def main_write(out):
    cases = []

    def add(case, img, fname, expected=None, rgb=False):
        path = os.path.join(out, fname)
        nib.save(img, path)
        record(case, path, expected, rgb)

    def record(case, path, expected=None, rgb=False):
        loaded = nib.load(path)
        if rgb:
            raw = np.asanyarray(loaded.dataobj)
            r, g, b = (raw[c].astype(np.float64) for c in "RGB")
            lum = 0.299 * r + 0.587 * g + 0.114 * b
            first = (Ellipsis,) if r.ndim <= 3 else (Ellipsis, 0)
            parts = [lum.ravel(order="F")] + [p[first].ravel(order="F") for p in (r, g, b)]
            np.concatenate(parts).astype("<f8").tofile(os.path.join(out, case + ".f64"))
            dtype = "rgba32" if "A" in raw.dtype.names else "rgb24"
        else:
            data = loaded.get_fdata() if expected is None else expected
            dump(os.path.join(out, case + ".f64"), data)
            dtype = str(loaded.get_data_dtype().newbyteorder("="))
        cases.append({"case": case, "file": os.path.basename(path), "shape": list(loaded.shape),
                      "affine": loaded.affine.tolist(), "dtype": dtype, "rgb": rgb})

    aff = oblique()
    types = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
    for i, t in enumerate(types):
        for endian, tag in (("<", "le"), (">", "be")):
            data = values(t, seed=i)
            hdr = nib.Nifti1Header(endianness=endian)
            img = nib.Nifti1Image(data, aff, hdr)
            img.set_data_dtype(t)
            add(f"{t}_{tag}", img, f"{t}_{tag}.nii")
    for endian, tag in (("<", "le"), (">", "be")):
        hdr = nib.Nifti2Header(endianness=endian)
        img = nib.Nifti2Image(values("float32", seed=20), aff, hdr)
        add(f"nifti2_{tag}", img, f"nifti2_{tag}.nii")
    img = nib.Nifti2Image(values("int16", seed=21), aff)
    img.set_data_dtype("int16")
    add("nifti2_gz", img, "nifti2_gz.nii.gz")

    # 4-D and a 5-D vector field
    add("fourd", nib.Nifti1Image(values("float32", SHAPE + (3,), seed=30), aff), "fourd.nii")
    add("fourd_gz", nib.Nifti1Image(values("int16", SHAPE + (4,), seed=31), aff), "fourd_gz.nii.gz")
    v5 = nib.Nifti1Image(values("float32", SHAPE + (1, 3), seed=32), aff)
    v5.header.set_intent("vector")
    add("vector5d", v5, "vector5d.nii")

    # Scaling: nibabel's own (float data stored as int16 / uint8) and a hand-set slope/inter
    f = values("float32", seed=40)
    f[~np.isfinite(f)] = 0
    img = nib.Nifti1Image(f, aff)
    img.set_data_dtype("int16")
    add("scaled_int16_nibabel", img, "scaled_int16_nibabel.nii")
    img = nib.Nifti1Image(np.abs(f) / 7.0, aff)
    img.set_data_dtype("uint8")
    add("scaled_uint8_nibabel", img, "scaled_uint8_nibabel.nii.gz")
    raw = values("int16", seed=41)
    path = os.path.join(out, "scaled_int16_manual.nii")
    nib.save(nib.Nifti1Image(raw, aff), path)
    b = bytearray(open(path, "rb").read())
    b[112:120] = struct.pack("<ff", 0.5, -10.0)
    open(path, "wb").write(b)
    record("scaled_int16_manual", path, raw.astype(np.float64) * 0.5 - 10.0)

    # Transforms: qform only (qfac +1 and -1), sform with shear, pixdim only (3-D and 2-D)
    for name, a in (("qform_only", oblique()), ("qform_qfac_neg", oblique() @ np.diag([1, 1, -1, 1]))):
        hdr = nib.Nifti1Header()
        hdr.set_data_shape(SHAPE)
        hdr.set_data_dtype("float32")
        hdr.set_qform(a, code=1)
        hdr.set_sform(None, code=0)
        add(name, nib.Nifti1Image(values("float32", seed=50), None, hdr), name + ".nii")
    shear = oblique()
    shear[0, 1] += 0.3
    img = nib.Nifti1Image(values("float32", seed=51), shear)
    img.header.set_qform(None, code=0)
    add("sform_shear", img, "sform_shear.nii")
    for name, shape, zooms in (("pixdim_only", SHAPE, (1.5, 2.0, 2.5)), ("pixdim_only_2d", SHAPE[:2], (0.7, 0.9))):
        hdr = nib.Nifti1Header()
        hdr.set_data_shape(shape)
        hdr.set_data_dtype("float32")
        hdr.set_zooms(zooms)
        hdr.set_qform(None, code=0)
        hdr.set_sform(None, code=0)
        add(name, nib.Nifti1Image(values("float32", shape, seed=52), None, hdr), name + ".nii")

    # 2-D and a single-slice 3-D image
    add("twod", nib.Nifti1Image(values("float32", (9, 11), seed=60), aff), "twod.nii")
    add("oneslice", nib.Nifti1Image(values("int16", (9, 11, 1), seed=61), aff), "oneslice.nii")

    # Containers: gzip, bzip2, pairs, multi-member gzip, extensions
    add("gz", nib.Nifti1Image(values("float32", seed=70), aff), "gz.nii.gz")
    add("bz2", nib.Nifti1Image(values("int16", seed=71), aff), "bz2.nii.bz2")
    add("pair", nib.Nifti1Pair(values("float32", seed=72), aff), "pair.img")
    add("pair_gz", nib.Nifti1Pair(values("int16", seed=73), aff), "pair_gz.img.gz")
    add("pair2", nib.Nifti2Pair(values("float32", seed=74), aff), "pair2.hdr")
    plain = os.path.join(out, "multimember_src.nii")
    nib.save(nib.Nifti1Image(values("int16", seed=75), aff), plain)
    blob = open(plain, "rb").read()
    os.remove(plain)
    cut = [0, 100, 352, len(blob) // 2, len(blob)]
    path = os.path.join(out, "multimember.nii.gz")
    with open(path, "wb") as fh:
        for a, b_ in zip(cut, cut[1:]):
            fh.write(gzip.compress(blob[a:b_]))
    record("multimember", path)
    path = os.path.join(out, "multistream.nii.bz2")
    with open(path, "wb") as fh:
        half = len(blob) // 2
        fh.write(bz2.compress(blob[:half]) + bz2.compress(blob[half:]))
    record("multistream_bz2", path)
    img = nib.Nifti1Image(values("float32", seed=76), aff)
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"RegPS interop test extension" * 3))
    add("extension", img, "extension.nii")

    # RGB24
    rgb = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rng = np.random.default_rng(80)
    for c in "RGB":
        rgb[c] = rng.integers(0, 255, SHAPE, endpoint=True)
    add("rgb24", nib.Nifti1Image(rgb, aff), "rgb24.nii", rgb=True)
    add("rgb24_gz", nib.Nifti1Image(rgb, aff), "rgb24_gz.nii.gz", rgb=True)
    rgba = np.zeros(SHAPE, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")])
    for c in "RGBA":
        rgba[c] = rng.integers(0, 255, SHAPE, endpoint=True)
    add("rgba32", nib.Nifti1Image(rgba, aff), "rgba32.nii", rgb=True)

    json.dump(cases, sys.stdout)


def main_describe(files):
    out = []
    for f in files:
        img = nib.load(f)
        h = img.header
        dump(f + ".f64", img.get_fdata())
        # After loading, nibabel keeps the scaling in the array proxy (the header's is reset).
        slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
        out.append({
            "file": f, "shape": list(img.shape), "affine": img.affine.tolist(),
            "sform": h.get_sform().tolist(), "qform": h.get_qform().tolist(),
            "sform_code": int(h["sform_code"]), "qform_code": int(h["qform_code"]),
            "dtype": str(img.get_data_dtype().newbyteorder("=")),
            "slope": slope, "inter": inter,
            "descrip": h["descrip"].item().decode("latin1"), "intent_code": int(h["intent_code"]),
            "xyzt_units": int(h["xyzt_units"]), "pixdim": [float(p) for p in h["pixdim"]],
            "dim": [int(d) for d in h["dim"]], "magic": h["magic"].item().decode("latin1"),
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "write":
        main_write(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "describe":
        main_describe(sys.argv[2:])
    else:
        sys.exit(__doc__)
