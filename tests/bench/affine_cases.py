#!/usr/bin/python3
"""Inputs and the DIPY/elastix sides of the affine benchmark (tests/RegPS.Benchmarks/AffineComparison.cs).

  affine_cases.py prepare OUTDIR        write every case: OUTDIR/<case>/{static,moving,mask}.nii and truth.json
  affine_cases.py dipy CASEDIR          run DIPY 1.6 on one case (its tutorial chain: centre of mass -> translation ->
                                        rigid -> affine, MI 32 bins, level_iters [10000,1000,100], sigmas [3,1,0],
                                        factors [4,2,1]) and print {"matrix": 4x4 RAS static->moving}
  affine_cases.py elastix CASEDIR OUT   read elastix's TransformParameters.0.txt in OUT and print the same JSON

Every case is a real image moved by a known transform T (static world -> moving world, RAS mm):
moving(y) = static(T^-1 y), cubic spline (scipy map_coordinates order 3), zero outside, written on the moving grid.
The error of a result A is the mean over the mask's voxels x of |A x - T x| (mm); the mask is the brain (3D: the
skull-stripped copy shipped next to the T1) or the head (2D: the slice's pixels above 20 of 255). The two-subject case
has no known transform ("affine": null); there the tools' results are compared with elastix's.
"""
import json
import os
import sys

import numpy as np

ITK = "/usr/share/doc/insighttoolkit5-examples/examples/Data/"
MRICRON = "/usr/share/mricron/templates/"


def rot(ax, deg):
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    if ax == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if ax == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def centred(linear, translation, centre):
    """4x4 world matrix y = L (x - c) + t + c."""
    m = np.eye(4)
    m[:3, :3] = linear
    m[:3, 3] = np.asarray(translation, float) + np.asarray(centre, float) - linear @ np.asarray(centre, float)
    return m


def centre_of(shape, aff):
    c = (np.array(list(shape) + [1] * (3 - len(shape)), float) - 1) / 2.0
    return (aff @ np.append(c, 1))[:3]


def move(static, s_aff, m_shape, m_aff, truth):
    from scipy.ndimage import map_coordinates
    idx = np.indices(m_shape).reshape(len(m_shape), -1).astype(float)
    if len(m_shape) == 2:
        idx = np.vstack([idx, np.zeros((1, idx.shape[1]))])
    vox = np.linalg.inv(s_aff) @ np.linalg.inv(truth) @ m_aff @ np.vstack([idx, np.ones((1, idx.shape[1]))])
    out = map_coordinates(static.astype(float), vox[: static.ndim], order=3, mode="constant", cval=0.0, prefilter=True)
    return np.clip(out, 0, None).reshape(m_shape).astype(np.float32)


def save(path, arr, aff):
    import nibabel as nib
    img = nib.Nifti1Image(np.asarray(arr, np.float32), aff)
    img.set_qform(aff, 1)
    img.set_sform(aff, 1)
    nib.save(img, path)


def png(name):
    import skimage.io
    a = skimage.io.imread(ITK + name).astype(np.float32)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2)  # BrainT1Slice.png is stored as grey RGB
    return a.T.copy()  # x = column, y = row


def prepare(outdir):
    import nibabel as nib
    cases = {}
    eye = np.eye(4)

    pd = png("BrainProtonDensitySlice.png")
    t1s = png("BrainT1Slice.png")
    c2 = centre_of(pd.shape, eye)
    rigid2 = centred(rot("z", 10.0), [13.0, 17.0, 0.0], c2)
    head2 = (pd > 20).astype(np.float32)  # the head (the background is 0-3)
    # ITK's slice rotated 10 degrees about its centre and shifted (13, 17) px: a pure rigid motion.
    cases["2d_rigid"] = (pd, eye, pd, pd.shape, eye, rigid2, head2)
    # The same slice under rotation, anisotropic scale and shear.
    aff2 = centred(rot("z", 9.0) @ np.array([[1.06, 0.04, 0], [0, 0.95, 0], [0, 0, 1]]), [7.0, -5.0, 0.0], c2)
    cases["2d_affine"] = (pd, eye, pd, pd.shape, eye, aff2, head2)
    # Two contrasts: the T1 slice (same anatomy) moved by the rigid motion, registered to the proton-density slice.
    cases["2d_multimodal"] = (pd, eye, t1s, pd.shape, eye, rigid2, head2)

    # 3D: ITK's real T1 (128x128x62, 2x2x3 mm, LSA), moved by rotations of 6 and -4 degrees, 5% scale, a shear and
    # ~10 mm, and stored on a 2.5 mm RAS grid of 104x80x104 centred on it (another voxel size and orientation).
    t1 = nib.load(ITK + "KmeansTest_T1UCharRaw.nii.gz")
    s3 = np.asarray(t1.dataobj).astype(np.float32)
    a3 = t1.affine.copy()
    brain3 = (np.asarray(nib.load(ITK + "KmeansTest_T1RawSkullStrip.nii.gz").dataobj) > 0).astype(np.float32)
    c3 = centre_of(s3.shape, a3)
    lin3 = rot("z", -4.0) @ rot("x", 6.0) @ np.array([[1.05, 0.03, 0], [0, 1.05, 0], [0, 0, 1.05]])
    truth3 = centred(lin3, [6.0, -5.0, 6.0], c3)
    m3 = np.diag([2.5, 2.5, 2.5, 1.0])
    m3[:3, 3] = c3 - np.array([51.5, 39.5, 51.5]) * 2.5
    cases["3d_t1"] = (s3, a3, s3, (104, 80, 104), m3, truth3, brain3)

    # 3D 1 mm: the Colin27 single-subject T1 (mricron-data, 181x217x181 at 1 mm in MNI space) on MNI152NLin2009cAsym's
    # 193x229x193 grid, moved by the same kind of affine on the same grid.
    if os.path.exists(MRICRON + "ch2.nii.gz"):
        ch2 = nib.load(MRICRON + "ch2.nii.gz")
        bet = np.asarray(nib.load(MRICRON + "ch2bet.nii.gz").dataobj) > 0
        big = (193, 229, 193)
        pad = [(b - s) // 2 for b, s in zip(big, ch2.shape)]
        s1 = np.zeros(big, np.float32)
        b1 = np.zeros(big, np.float32)
        sl = tuple(slice(p, p + s) for p, s in zip(pad, ch2.shape))
        s1[sl] = np.asarray(ch2.dataobj, np.float32)
        b1[sl] = bet
        a1 = ch2.affine.copy()
        a1[:3, 3] -= a1[:3, :3] @ np.array(pad, float)
        c1 = centre_of(big, a1)
        truth1 = centred(lin3, [6.0, -5.0, 6.0], c1)
        cases["3d_1mm"] = (s1, a1, s1, big, a1, truth1, b1)
        # Two subjects: ITK's T1 (as stored, 2x2x3 mm LSA, about 22 degrees of pitch away) onto the Colin27 T1 at 1 mm.
        # No known transform: the tools are compared with each other (elastix's result is the reference).
        cases["3d_two_subjects"] = (s1, a1, (s3, a3), None, None, None, b1)

    # Each case: static image and grid, the image that is moved (the static one, or another contrast on the static
    # grid), the moving grid (shape, grid-to-world), the known transform, and the static mask the error is taken over.
    for name, (s, sa, src, mshape, ma, truth, mask) in cases.items():
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        save(os.path.join(d, "static.nii"), s, sa)
        if truth is None:
            save(os.path.join(d, "moving.nii"), src[0], src[1])  # another subject, as stored
        else:
            save(os.path.join(d, "moving.nii"), move(src, sa, mshape, ma, truth), ma)
        save(os.path.join(d, "mask.nii"), mask, sa)
        with open(os.path.join(d, "truth.json"), "w") as f:
            json.dump({"affine": None if truth is None else truth.tolist()}, f)
        print("prepared", name, s.shape, "->", mshape)


def run_dipy(casedir):
    import resource
    import time
    import nibabel as nib
    from dipy.align.imaffine import AffineRegistration, MutualInformationMetric, transform_centers_of_mass
    from dipy.align.transforms import (AffineTransform2D, AffineTransform3D, RigidTransform2D, RigidTransform3D,
                                       TranslationTransform2D, TranslationTransform3D)
    s = nib.load(os.path.join(casedir, "static.nii"))
    m = nib.load(os.path.join(casedir, "moving.nii"))
    static, moving = np.asarray(s.dataobj, np.float64), np.asarray(m.dataobj, np.float64)
    s_aff, m_aff = s.affine, m.affine
    dim = static.ndim
    if dim == 2:
        sel = [0, 1, 3]
        s_aff, m_aff = s_aff[np.ix_(sel, sel)], m_aff[np.ix_(sel, sel)]
        chain = [TranslationTransform2D(), RigidTransform2D(), AffineTransform2D()]
    else:
        chain = [TranslationTransform3D(), RigidTransform3D(), AffineTransform3D()]
    t0 = time.perf_counter()
    starting = transform_centers_of_mass(static, s_aff, moving, m_aff).affine
    reg = AffineRegistration(metric=MutualInformationMetric(32, None), level_iters=[10000, 1000, 100],
                             sigmas=[3.0, 1.0, 0.0], factors=[4, 2, 1], verbosity=0)
    for tr in chain:
        starting = reg.optimize(static, moving, tr, None, s_aff, m_aff, starting_affine=starting).affine
    mat = np.asarray(starting, float)
    if dim == 2:
        full = np.eye(4)
        full[np.ix_([0, 1, 3], [0, 1, 3])] = mat
        mat = full
    print(json.dumps({"matrix": mat.tolist(), "seconds": time.perf_counter() - t0,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


def read_elastix(outdir):
    """elastix's AffineTransform (LPS, y = A (x - c) + t + c, fixed -> moving) as a RAS 4x4 static -> moving."""
    params = {}
    with open(os.path.join(outdir, "TransformParameters.0.txt")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("(") and line.endswith(")"):
                parts = line[1:-1].split()
                params[parts[0]] = [p.strip('"') for p in parts[1:]]
    dim = int(params["FixedImageDimension"][0])
    p = np.array([float(v) for v in params["TransformParameters"]])
    c = np.array([float(v) for v in params["CenterOfRotationPoint"]])
    a = p[: dim * dim].reshape(dim, dim)
    t = p[dim * dim:]
    lps = np.eye(4)
    lps[:dim, :dim] = a
    lps[:dim, 3] = t + c - a @ c
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    print(json.dumps({"matrix": (flip @ lps @ flip).tolist()}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "dipy":
        run_dipy(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "elastix":
        read_elastix(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
