#!/usr/bin/python3
"""Inputs and the DIPY side of the motion-correction benchmark (tests/RegPS.Benchmarks/SeriesComparison.cs).

  series_cases.py prepare OUTDIR [VOLUMES]   write OUTDIR/bold.nii (64x64x36 voxels of 3 mm, VOLUMES volumes, default
                                             200), OUTDIR/mask.nii (the brain on that grid) and OUTDIR/truth.json
  series_cases.py dipy OUTDIR [COUNT]        run DIPY 1.6's register_series (translation then rigid, its default MI
                                             levels) to the middle volume and print {"volumes": [...], "affines": [...],
                                             "seconds": s}; with COUNT, on COUNT volumes spread evenly over the run
                                             (the middle one among them) instead of all (DIPY takes seconds per volume)

The series is made here, independently of RegPS: a real T1 (the Colin27 brain of Debian's mricron-data, 1 mm; ITK's
KmeansTest T1 from insighttoolkit5-examples when mricron-data is absent) smoothed by a Gaussian of sigma 1.3 mm (about
a 3 mm BOLD point-spread, after padding it with zeros beyond its field of view), then sampled with a cubic spline (scipy map_coordinates, order 3) on a 64x64x36 RAS grid of
3 mm centred on the brain, the head moved by a known rigid motion per volume, times a slow signal drift (+3% over the
run) plus Gaussian thermal noise (2% of the brain's mean). Volume t at world point y holds T1(A_t^-1 y), so the
anatomy at x in the middle volume is at A_t x in volume t (A_mid = I): A_t is the reference-world -> volume-world matrix
(DIPY's AffineMap meaning) every tool is asked for. A_t x = R (x - c) + c + T with R = Rx Ry Rz (angles rx ry rz) and c
the grid's centre.

The motion (seeded): a smooth random drift per parameter (a random walk low-passed over ~20 volumes, scaled to end
within 1.2 mm / 1.2 degrees), a slow linear trend, and 4 spikes of 1-3 volumes (0.4-1 mm, 0.4-1 degree); all values
stay within 2 mm / 2 degrees. Parameters are relative to the middle volume.
"""
import json
import os
import sys

import numpy as np

ITK = "/usr/share/doc/insighttoolkit5-examples/examples/Data/"
MRICRON = "/usr/share/mricron/templates/"
SHAPE = (64, 64, 36)
VOXEL = 3.0


def rot(ax, a):
    c, s = np.cos(a), np.sin(a)
    if ax == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if ax == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def motion(p, c):
    """4x4: x -> Rx Ry Rz (x - c) + c + t, p = tx ty tz (mm), rx ry rz (degrees)."""
    r = rot("x", np.deg2rad(p[3])) @ rot("y", np.deg2rad(p[4])) @ rot("z", np.deg2rad(p[5]))
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = np.asarray(p[:3], float) + c - r @ c
    return m


def make_motion(n, seed=7):
    rng = np.random.default_rng(seed)
    mid = n // 2
    p = np.zeros((n, 6))
    for k in range(6):
        walk = np.cumsum(rng.normal(size=n))
        kernel = np.exp(-0.5 * (np.arange(-40, 41) / 10.0) ** 2)
        smooth = np.convolve(np.pad(walk, 40, mode="edge"), kernel / kernel.sum(), mode="valid")
        smooth -= smooth[mid]
        smooth *= 1.2 / max(1e-9, np.abs(smooth).max())
        trend = rng.uniform(-0.4, 0.4) * (np.arange(n) - mid) / mid
        p[:, k] = smooth + trend
    for start, length in [(int(0.15 * n), 2), (int(0.4 * n), 1), (int(0.7 * n), 3), (int(0.9 * n), 1)]:
        amp = rng.uniform(0.4, 1.0, 6) * rng.choice([-1, 1], 6)
        p[start:start + length] += amp
    p += np.concatenate([rng.normal(0, 0.02, (n, 3)), rng.normal(0, 0.015, (n, 3))], axis=1)
    p -= p[mid]
    p = np.clip(p, -2.0, 2.0)
    p[mid] = 0
    return p


def prepare(outdir, n):
    import nibabel as nib
    from scipy.ndimage import gaussian_filter, map_coordinates
    os.makedirs(outdir, exist_ok=True)
    if os.path.exists(MRICRON + "ch2.nii.gz"):
        src = nib.load(MRICRON + "ch2.nii.gz")
        brain = np.asarray(nib.load(MRICRON + "ch2bet.nii.gz").dataobj) > 0
        source = "Colin27 T1 (mricron-data ch2.nii.gz)"
    else:
        src = nib.load(ITK + "KmeansTest_T1UCharRaw.nii.gz")
        brain = np.asarray(nib.load(ITK + "KmeansTest_T1RawSkullStrip.nii.gz").dataobj) > 0
        source = "ITK KmeansTest_T1UCharRaw"
    zooms = np.array(src.header.get_zooms()[:3], float)
    # The T1 padded with PAD voxels of zeros on every side before smoothing: a head cut by the T1's field of view (ITK's
    # back of the head) then gets the same point-spread at the cut as everywhere else (a ramp that fits in the padded
    # array), instead of a sharp step that moves with the head but looks different at each sub-voxel position (it biased
    # least squares by 0.1-0.2 mm on series made from the ITK T1).
    pad = 6
    t1 = np.pad(np.asarray(src.dataobj, np.float64), pad)
    brain = np.pad(brain, pad)
    t1_affine = src.affine @ np.array([[1, 0, 0, -pad], [0, 1, 0, -pad], [0, 0, 1, -pad], [0, 0, 0, 1.0]])
    sm = gaussian_filter(t1, 1.3 / zooms)
    # Brain centre (world) from the brain mask; a RAS 3 mm grid centred on it.
    idx = np.argwhere(brain)
    centre = (t1_affine @ np.append(idx.mean(axis=0), 1))[:3]
    aff = np.diag([VOXEL, VOXEL, VOXEL, 1.0])
    aff[:3, 3] = centre - VOXEL * (np.array(SHAPE) - 1) / 2.0
    c = (aff @ np.append((np.array(SHAPE) - 1) / 2.0, 1))[:3]
    truth = make_motion(n)
    grid = np.indices(SHAPE).reshape(3, -1).astype(float)
    world = aff @ np.vstack([grid, np.ones((1, grid.shape[1]))])
    inv_src = np.linalg.inv(t1_affine)
    coeffs = None
    from scipy.ndimage import spline_filter
    coeffs = spline_filter(sm, order=3)
    still = map_coordinates(coeffs, (inv_src @ world)[:3], order=3, mode="constant", cval=0.0, prefilter=False).reshape(SHAPE)
    mask = map_coordinates(brain.astype(np.float32), (inv_src @ world)[:3], order=1, mode="constant", cval=0.0).reshape(SHAPE) > 0.5
    brain_mean = float(still[mask].mean())
    rng = np.random.default_rng(11)
    data = np.zeros(SHAPE + (n,), np.float32)
    for t in range(n):
        a = motion(truth[t], c)
        vox = inv_src @ np.linalg.inv(a) @ world
        v = map_coordinates(coeffs, vox[:3], order=3, mode="constant", cval=0.0, prefilter=False).reshape(SHAPE)
        v = np.clip(v, 0, None) * (1 + 0.03 * t / max(1, n - 1)) + rng.normal(0, 0.02 * brain_mean, SHAPE)
        data[..., t] = v
    img = nib.Nifti1Image(data, aff)
    img.set_qform(aff, 1)
    img.set_sform(aff, 1)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.0
    nib.save(img, os.path.join(outdir, "bold.nii"))
    m = nib.Nifti1Image(mask.astype(np.float32), aff)
    m.set_qform(aff, 1)
    m.set_sform(aff, 1)
    nib.save(m, os.path.join(outdir, "mask.nii"))
    with open(os.path.join(outdir, "truth.json"), "w") as f:
        json.dump({"source": source, "reference": n // 2, "centre": c.tolist(), "parameters": truth.tolist(),
                   "affines": [motion(truth[t], c).tolist() for t in range(n)]}, f)
    print("prepared", os.path.join(outdir, "bold.nii"), SHAPE, n, "volumes from", source,
          "max |t| %.2f mm, max |r| %.2f deg" % (np.abs(truth[:, :3]).max(), np.abs(truth[:, 3:]).max()))


def subset(n, count):
    """count volume indices spread evenly over 0..n-1, always including the middle (reference) volume n // 2."""
    if count <= 0 or count >= n:
        return list(range(n))
    idx = set(int(round(v)) for v in np.linspace(0, n - 1, count - 1))
    idx.add(n // 2)
    return sorted(idx)


def run_dipy(outdir, count=0):
    import time
    import nibabel as nib
    from dipy.align import register_series
    img = nib.load(os.path.join(outdir, "bold.nii"))
    n = img.shape[3]
    volumes = subset(n, count)
    ref = volumes.index(n // 2)
    t0 = time.perf_counter()
    data = np.asarray(img.dataobj, dtype=np.float64)[..., volumes]
    # DIPY's rigid transforms rotate about the world origin; run it in a world whose origin is the grid's centre (else
    # a rotation couples with a large translation and its optimiser stops early) and carry the matrices back.
    centre = img.affine @ np.append((np.array(data.shape[:3]) - 1) / 2.0, 1.0)
    shift = np.eye(4)
    shift[:3, 3] = -centre[:3]
    affine = shift @ img.affine
    stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        _, affines = register_series(data, ref, pipeline=["translation", "rigid"], series_affine=affine, ref_affine=affine)
    finally:
        sys.stdout = stdout
    back = np.linalg.inv(shift)
    out = [(back @ affines[..., i] @ shift).tolist() for i in range(affines.shape[-1])]
    print(json.dumps({"volumes": volumes, "affines": out, "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "prepare":
        prepare(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200)
    elif len(sys.argv) >= 3 and sys.argv[1] == "dipy":
        run_dipy(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    else:
        print(__doc__)
        sys.exit(2)
