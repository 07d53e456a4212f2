#!/usr/bin/python3
"""Side-by-side affine benchmark helper (DIPY side and input preparation).

  affine_bench.py prepare OUTDIR          write the cases: OUTDIR/<case>/{static,moving}.raw + .json, truth.json
  affine_bench.py dipy CASEDIR            run DIPY 1.6 on one case (tutorial chain: centre of mass ->
                                          translation -> rigid -> affine, MI 32 bins, default level_iters
                                          [10000,1000,100], sigmas [3,1,0], factors [4,2,1]) and write
                                          CASEDIR/dipy.json {matrix, seconds, cpu_seconds, maxrss_mb}

Volumes are exchanged as raw float32 little-endian, x fastest (NIfTI order), with a JSON sidecar
{"shape": [nx, ny(, nz)], "affine": 4x4 grid-to-world rows (RAS mm)}. For 2D cases the affine is 4x4
with an identity z row, and DIPY gets the 3x3 in-plane matrix.
"""
import json
import os
import resource
import sys
import time

import numpy as np

DATA = "/usr/share/doc/insighttoolkit5-examples/examples/Data/"


def write_image(path, arr, affine):
    np.asarray(arr, dtype="<f4").ravel(order="F").tofile(path + ".raw")
    with open(path + ".json", "w") as f:
        json.dump({"shape": list(arr.shape), "affine": np.asarray(affine, float).tolist()}, f)


def read_image(path):
    with open(path + ".json") as f:
        meta = json.load(f)
    shape = tuple(meta["shape"])
    arr = np.fromfile(path + ".raw", dtype="<f4").reshape(shape, order="F")
    return arr, np.array(meta["affine"], dtype=float)


def centred(linear, translation, centre):
    """4x4 world matrix y = L (x - c) + t + c."""
    m = np.eye(4)
    m[:3, :3] = linear
    m[:3, 3] = np.asarray(translation) + np.asarray(centre) - linear @ np.asarray(centre)
    return m


def rot(ax, deg):
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    if ax == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if ax == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def move(static, s_aff, m_shape, m_aff, truth):
    """moving(y) = static(truth^-1 y), cubic spline, zero outside: so truth maps static world -> moving world."""
    from scipy.ndimage import map_coordinates
    idx = np.indices(m_shape).reshape(len(m_shape), -1).astype(float)
    if len(m_shape) == 2:
        idx = np.vstack([idx, np.zeros((1, idx.shape[1]))])
    h = np.vstack([idx, np.ones((1, idx.shape[1]))])
    vox = np.linalg.inv(s_aff) @ np.linalg.inv(truth) @ m_aff @ h
    coords = vox[: static.ndim]
    out = map_coordinates(static.astype(float), coords, order=3, mode="constant", cval=0.0, prefilter=True)
    return np.clip(out, 0, None).reshape(m_shape).astype(np.float32)


def geometric_centre(shape, aff):
    c = (np.array(list(shape) + [1] * (3 - len(shape))) - 1) / 2.0
    return (aff @ np.append(c, 1))[:3]


def prepare(outdir):
    import nibabel as nib
    import skimage.io
    from scipy.ndimage import map_coordinates
    os.makedirs(outdir, exist_ok=True)

    # 2D: the ITK proton-density slice, origin at the image corner (1 mm pixels).
    png = skimage.io.imread(DATA + "BrainProtonDensitySlice.png").astype(np.float32)
    s2 = png.T.copy()  # x = column, y = row
    a2 = np.eye(4)
    c2 = geometric_centre(s2.shape, a2)
    lin2 = rot("z", 9.0) @ np.array([[1.06, 0.04, 0], [0, 0.95, 0], [0, 0, 1]])
    t2 = centred(lin2, [7.0, -5.0, 0.0], c2)
    cases = {"2d_itk_slice": (s2, a2, s2.shape, a2, t2)}

    # 3D: the ITK T1 volume (128x128x62, 2x2x3 mm) on its own header.
    t1 = nib.load(DATA + "KmeansTest_T1UCharRaw.nii.gz")
    s3 = np.asarray(t1.dataobj).astype(np.float32)
    a3 = t1.affine.copy()
    c3 = geometric_centre(s3.shape, a3)
    lin3 = rot("z", 5.0) @ rot("x", -7.0) @ np.array([[1.04, 0.03, 0], [0, 0.96, 0.02], [0, 0, 1.02]])
    t3 = centred(lin3, [9.0, -6.0, 5.0], c3)
    cases["3d_itk_t1"] = (s3, a3, s3.shape, a3, t3)

    # 3D 1 mm: the same T1 resampled (trilinear) onto a 193x229x193 1 mm RAS grid centred on the volume.
    shape1 = (193, 229, 193)
    a1 = np.eye(4)
    a1[:3, 3] = c3 - (np.array(shape1) - 1) / 2.0
    idx = np.indices(shape1).reshape(3, -1).astype(float)
    vox = np.linalg.inv(a3) @ a1 @ np.vstack([idx, np.ones((1, idx.shape[1]))])
    s1 = map_coordinates(s3.astype(float), vox[:3], order=1, mode="constant", cval=0.0).reshape(shape1).astype(np.float32)
    del idx, vox
    t1m = centred(lin3, [9.0, -6.0, 5.0], geometric_centre(shape1, a1))
    cases["3d_t1_1mm"] = (s1, a1, shape1, a1, t1m)

    for name, (s, sa, mshape, ma, truth) in cases.items():
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        m = move(s, sa, mshape, ma, truth)
        write_image(os.path.join(d, "static"), s, sa)
        write_image(os.path.join(d, "moving"), m, ma)
        with open(os.path.join(d, "truth.json"), "w") as f:
            json.dump({"affine": truth.tolist()}, f)
        print("prepared", name, s.shape)


def run_dipy(casedir):
    from dipy.align.imaffine import AffineRegistration, MutualInformationMetric, transform_centers_of_mass
    from dipy.align.transforms import (AffineTransform2D, AffineTransform3D, RigidTransform2D,
                                       RigidTransform3D, TranslationTransform2D, TranslationTransform3D)
    static, s_aff = read_image(os.path.join(casedir, "static"))
    moving, m_aff = read_image(os.path.join(casedir, "moving"))
    dim = static.ndim
    if dim == 2:
        sel = [0, 1, 3]
        s_aff = s_aff[np.ix_(sel, sel)]
        m_aff = m_aff[np.ix_(sel, sel)]
        transforms = [TranslationTransform2D(), RigidTransform2D(), AffineTransform2D()]
    else:
        transforms = [TranslationTransform3D(), RigidTransform3D(), AffineTransform3D()]
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c_of_mass = transform_centers_of_mass(static, s_aff, moving, m_aff)
    reg = AffineRegistration(metric=MutualInformationMetric(32, None), level_iters=[10000, 1000, 100],
                             sigmas=[3.0, 1.0, 0.0], factors=[4, 2, 1], verbosity=0)
    starting = c_of_mass.affine
    for tr in transforms:
        result = reg.optimize(static, moving, tr, None, s_aff, m_aff, starting_affine=starting)
        starting = result.affine
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    mat = np.asarray(starting, float)
    if dim == 2:
        full = np.eye(4)
        full[np.ix_([0, 1, 3], [0, 1, 3])] = mat
        mat = full
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    with open(os.path.join(casedir, "dipy.json"), "w") as f:
        json.dump({"matrix": mat.tolist(), "seconds": seconds, "cpu_seconds": cpu, "maxrss_mb": rss_mb}, f)
    print(json.dumps({"case": os.path.basename(casedir), "seconds": seconds, "maxrss_mb": rss_mb}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("prepare", "dipy"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    else:
        run_dipy(sys.argv[2])
