#!/usr/bin/python3
"""Inputs, the DIPY side and the scoring of the `syn` comparison (tests/RegPS.Benchmarks/SynComparison.cs);
run with /usr/bin/python3 (DIPY 1.6, nibabel, scipy).

  syn_dipy.py prepare DIR [--big]       write every case under DIR/<case>/: static.nii, moving.nii (float32; .nii.gz
                                        copies for the module's own reader), mask.nii (the brain, or the head in 2D)
                                        and truth.json (the known warp)
  syn_dipy.py prepare-seeds DIR [--more]
                                        write three more cases for choosing settings without fitting one draw: ITK's
                                        T1 under two other random warps (t1_3d_s2, t1_3d_s3; seeds 1002, 1003) and the
                                        2D slice under another (brain2d_s2; seed 1002), drawn as t1_3d and brain2d are;
                                        --more adds six more T1 warps (t1_3d_s4 .. t1_3d_s9; seeds 1004-1009)
  syn_dipy.py dipy DIR CASE [N]         run DIPY SymmetricDiffeomorphicRegistration(CCMetric(dim)) at its defaults N
                                        times (default 1) in this process on the case's NIfTI files; write
                                        DIR/CASE/dipy_forward.raw (last run) and print JSON (seconds = median of the
                                        runs' optimize() time, seconds_all, cpu_seconds, peak_mb, final_cc)
  syn_dipy.py elastix DIR CASE OUT      turn transformix's deformationField.nii and spatialJacobian.nii in OUT into
                                        DIR/CASE/elastix_forward.raw and print the minimum Jacobian over the mask
  syn_dipy.py evaluate DIR CASE WHO     score WHO_forward.raw (static->moving displacement, world mm, on the static
                                        grid) against the known warp; print one JSON line. For WHO = pwsh (the
                                        module run by syn_user_peak.ps1) the field is pwsh_forward_planar.raw (one
                                        component after another) and the map is y -> P(y + f(y)), P in pwsh_prealign.json

All cases are "after the affine": static and moving lie on the same grid and differ only by the known warp, so every
tool starts from the identity (no affine stage). A field file holds dim float32 components per voxel (components
fastest, then x, y, z: NIfTI order), RAS world mm.

Ground truth: moving(z) = static(z + e(z)), e an analytic sum of Gaussian bumps (world mm), so the true static->moving
point map is the inverse of z -> z + e(z). A recovered map y -> y + f(y) is scored by the residual
r(y) = f(y) + e(y + f(y)) (zero for the exact map), evaluated analytically at every mask voxel: mean, median and
95th percentile of |r| in mm. The Jacobian determinant of y -> y + f(y) is det(I + Df), Df by central differences
(numpy.gradient) in world units; its minimum over the mask is reported.
"""
import json
import os
import resource
import sys
import time

import numpy as np
from scipy import ndimage

ITK = '/usr/share/doc/insighttoolkit5-examples/examples/Data/'
DIPYDATA = '/usr/lib/python3/dist-packages/dipy/data/files/'
MRICRON = '/usr/share/mricron/templates/'


def save_nii(path, arr, affine):
    import nibabel as nib
    img = nib.Nifti1Image(np.asarray(arr, np.float32), np.asarray(affine, float))
    img.set_qform(affine, 1)
    img.set_sform(affine, 1)
    nib.save(img, path)


def load_nii(path):
    import nibabel as nib
    img = nib.load(path)
    return np.asarray(img.dataobj, dtype=np.float32), img.affine.copy()


def load_field(path, shape):
    dim = len(shape)
    raw = np.fromfile(path, dtype='<f4')
    # components fastest, then x, y, z
    return raw.reshape(tuple(shape[::-1]) + (dim,)).transpose(tuple(range(dim - 1, -1, -1)) + (dim,))


def save_field(path, f):
    dim = f.shape[-1]
    np.asarray(f, dtype='<f4').transpose(tuple(range(dim - 1, -1, -1)) + (dim,)).tofile(path)


def linear_part(affine, dim):
    return affine[:dim, :dim] if dim == 3 else affine[np.ix_([0, 1], [0, 1])]


def world_points(shape, affine):
    dim = len(shape)
    idx = np.indices(shape, dtype=float).reshape(dim, -1)
    lin = linear_part(affine, dim)
    off = affine[:dim, 3]
    return (lin @ idx + off[:, None]), lin


def bumps_eval(bumps, pts):
    """Sum of Gaussian bumps at world points pts (dim, N): e(p) = sum a_k exp(-|p-c_k|^2 / (2 s_k^2))."""
    out = np.zeros_like(pts)
    for b in bumps:
        c = np.array(b['center'])[:, None]
        a = np.array(b['amplitude'])[:, None]
        w = np.exp(-np.sum((pts - c) ** 2, 0) / (2 * b['sigma'] ** 2))
        out += a * w[None, :]
    return out


def warp_by_bumps(static, affine, bumps):
    """moving(z) = static(z + e(z)) on the same grid, linear interpolation, zero outside."""
    shape = static.shape
    dim = len(shape)
    pts, lin = world_points(shape, affine)
    q = pts + bumps_eval(bumps, pts)
    inv = np.linalg.inv(np.vstack([np.hstack([lin, affine[:dim, 3:4]]), [0] * dim + [1]]))
    vox = inv[:dim, :dim] @ q + inv[:dim, dim:]
    return ndimage.map_coordinates(static.astype(np.float64), vox, order=1, mode='constant', cval=0).reshape(shape)


def bumps_jacobian(bumps, pts, dim):
    h = 1e-3
    J = np.zeros((dim, dim, pts.shape[1]))
    for a in range(dim):
        d = np.zeros((dim, 1)); d[a] = h
        J[:, a, :] = (bumps_eval(bumps, pts + d) - bumps_eval(bumps, pts - d)) / (2 * h)
    for a in range(dim):
        J[a, a, :] += 1
    return np.linalg.det(J.transpose(2, 0, 1))


def make_bumps(rng, shape, affine, n, amp_vox, sigma_vox):
    dim = len(shape)
    pts, lin = world_points(shape, affine)
    sp = np.sqrt((lin ** 2).sum(0))
    lo, hi = pts.min(1), pts.max(1)
    bumps = []
    for _ in range(n):
        c = lo + (0.25 + 0.5 * rng.random(dim)) * (hi - lo)
        d = rng.normal(size=dim); d /= np.linalg.norm(d)
        bumps.append({'center': c.tolist(), 'sigma': float(sigma_vox * sp.min()),
                      'amplitude': (d * amp_vox * sp.min()).tolist()})
    return bumps


def prepare(root, big):
    import nibabel as nib
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(20261124)  # the draws of brain2d, t1_3d and t1_big are those of earlier sessions
    cases = []
    # DIPY's own 2D pair (static = C, moving = circle, as in DIPY's syn example); no known field.
    c = np.load(DIPYDATA + 'C.npy').astype(np.float32)
    o = np.load(DIPYDATA + 'circle.npy').astype(np.float32)
    write_case(root, 'circle_c', c, o, np.eye(4), (c > 0.1 * c.max()).astype(np.float32), None)
    cases.append('circle_c')
    # ITK's proton-density brain slice (x = column, y = row, 1 mm pixels), warped by a known smooth field; the mask
    # is the head (pixels above 10% of the maximum).
    from skimage import io
    img = io.imread(ITK + 'BrainProtonDensitySlice.png').astype(np.float32).T
    add_case(root, 'brain2d', img, np.eye(4), (img > 0.1 * img.max()).astype(np.float32), make_bumps(rng, img.shape, np.eye(4), 8, 4.0, 22.0))
    cases.append('brain2d')
    # ITK's real T1 (128x128x62, 2x2x3 mm), warped by a known smooth field; the mask is ITK's skull-stripped copy.
    t1 = nib.load(ITK + 'KmeansTest_T1UCharRaw.nii.gz')
    vol = np.asarray(t1.dataobj, dtype=np.float32)
    brain = (np.asarray(nib.load(ITK + 'KmeansTest_T1RawSkullStrip.nii.gz').dataobj) > 0).astype(np.float32)
    add_case(root, 't1_3d', vol, t1.affine, brain, make_bumps(rng, vol.shape, t1.affine, 8, 4.0, 16.0))
    cases.append('t1_3d')
    if big:
        # The same T1 resampled (trilinear) onto a 193x229x193 1 mm RAS grid centred on it (an upsampled 2x2x3 mm
        # image, smoother than a real 1 mm scan; kept for comparison with earlier sessions).
        shape = (193, 229, 193)
        ctr = t1.affine @ np.array([(n - 1) / 2 for n in vol.shape] + [1])
        aff = np.eye(4); aff[:3, 3] = ctr[:3] - (np.array(shape) - 1) / 2
        pts, _ = world_points(shape, aff)
        inv = np.linalg.inv(t1.affine)
        vox = inv[:3, :3] @ pts + inv[:3, 3:]
        up = ndimage.map_coordinates(vol.astype(np.float64), vox, order=1, mode='constant').reshape(shape).astype(np.float32)
        upb = ndimage.map_coordinates(brain.astype(np.float64), vox, order=0, mode='constant').reshape(shape).astype(np.float32)
        add_case(root, 't1_big', up, aff, upb, make_bumps(rng, shape, aff, 8, 4.0, 30.0))
        cases.append('t1_big')
    if os.path.exists(MRICRON + 'ch2.nii.gz'):
        # A real T1 at 1 mm: Colin27 (mricron-data, 181x217x181, MNI space) zero-padded to MNI152NLin2009cAsym's
        # 193x229x193 grid, warped by 10 Gaussian bumps (sigma 24 mm) scaled so that the warp is at most 9 mm over
        # the brain (ch2bet > 0, the mask).
        ch2 = nib.load(MRICRON + 'ch2.nii.gz')
        bet = np.asarray(nib.load(MRICRON + 'ch2bet.nii.gz').dataobj) > 0
        shape = (193, 229, 193)
        pad = [(b - s) // 2 for b, s in zip(shape, ch2.shape)]
        s1 = np.zeros(shape, np.float32)
        b1 = np.zeros(shape, np.float32)
        sl = tuple(slice(p, p + s) for p, s in zip(pad, ch2.shape))
        s1[sl] = np.asarray(ch2.dataobj, np.float32)
        b1[sl] = bet
        a1 = ch2.affine.copy()
        a1[:3, 3] -= a1[:3, :3] @ np.array(pad, float)
        r1 = np.random.default_rng(20261201)
        pts, _ = world_points(shape, a1)
        inside = pts[:, b1.ravel() > 0]
        lo, hi = inside.min(1), inside.max(1)
        bumps = []
        for _ in range(10):
            cen = lo + (0.2 + 0.6 * r1.random(3)) * (hi - lo)
            d = r1.normal(size=3); d /= np.linalg.norm(d)
            bumps.append({'center': cen.tolist(), 'sigma': 24.0, 'amplitude': (d * (0.5 + 0.5 * r1.random())).tolist()})
        peak = np.sqrt((bumps_eval(bumps, inside) ** 2).sum(0)).max()
        for b in bumps:
            b['amplitude'] = (np.array(b['amplitude']) * 9.0 / peak).tolist()
        add_case(root, 'colin_1mm', s1, a1, b1, bumps)
        cases.append('colin_1mm')
    print(json.dumps({'cases': cases}))


def prepare_seeds(root, more=False):
    """The extra draws the README's settings table averages over (see the module docstring)."""
    import nibabel as nib
    from skimage import io
    os.makedirs(root, exist_ok=True)
    t1 = nib.load(ITK + 'KmeansTest_T1UCharRaw.nii.gz')
    vol = np.asarray(t1.dataobj, dtype=np.float32)
    brain = (np.asarray(nib.load(ITK + 'KmeansTest_T1RawSkullStrip.nii.gz').dataobj) > 0).astype(np.float32)
    for seed in (2, 3) + ((4, 5, 6, 7, 8, 9) if more else ()):
        rng = np.random.default_rng(1000 + seed)
        add_case(root, 't1_3d_s%d' % seed, vol, t1.affine, brain, make_bumps(rng, vol.shape, t1.affine, 8, 4.0, 16.0))
    img = io.imread(ITK + 'BrainProtonDensitySlice.png').astype(np.float32).T
    rng = np.random.default_rng(1002)
    add_case(root, 'brain2d_s2', img, np.eye(4), (img > 0.1 * img.max()).astype(np.float32), make_bumps(rng, img.shape, np.eye(4), 8, 4.0, 22.0))


def write_case(root, name, static, moving, affine, mask, truth):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    for base, arr in (('static', static), ('moving', moving)):
        save_nii(os.path.join(d, base + '.nii'), arr, affine)
        save_nii(os.path.join(d, base + '.nii.gz'), arr, affine)
    save_nii(os.path.join(d, 'mask.nii'), mask, affine)
    with open(os.path.join(d, 'truth.json'), 'w') as f:
        json.dump(truth if truth is not None else {'bumps': None}, f)
    # written last: the harness takes a case as prepared when truth.json is there
    print('prepared', name, static.shape)


def add_case(root, name, static, affine, mask, bumps):
    dim = static.ndim
    pts, _ = world_points(static.shape, affine)
    m = mask.ravel() > 0
    e = bumps_eval(bumps, pts[:, m])
    # the known warp's size and its Jacobian (every 2nd voxel in 3D), for the record
    sub = pts[:, ::8] if dim == 3 else pts
    truth = {'bumps': bumps, 'min_jacobian': float(bumps_jacobian(bumps, sub, dim).min()),
             'max_disp_mm': float(np.sqrt((e ** 2).sum(0)).max()), 'mean_disp_mm': float(np.sqrt((e ** 2).sum(0)).mean())}
    moving = warp_by_bumps(static, affine, bumps).astype(np.float32)
    write_case(root, name, static, moving, affine, mask, truth)


def global_cc(a, b):
    a = a.ravel().astype(np.float64); b = b.ravel().astype(np.float64)
    a -= a.mean(); b -= b.mean()
    return float((a @ b) / np.sqrt((a @ a) * (b @ b)))


def run_dipy(root, case, repeats=1):
    from dipy.align.imwarp import SymmetricDiffeomorphicRegistration
    from dipy.align.metrics import CCMetric
    d = os.path.join(root, case)
    static, sa = load_nii(os.path.join(d, 'static.nii'))
    moving, ma = load_nii(os.path.join(d, 'moving.nii'))
    dim = static.ndim
    if dim == 2:
        sa = sa[np.ix_([0, 1, 3], [0, 1, 3])]; ma = ma[np.ix_([0, 1, 3], [0, 1, 3])]
    runs, cpus = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        c0 = time.process_time()
        sdr = SymmetricDiffeomorphicRegistration(CCMetric(dim))
        mapping = sdr.optimize(static, moving, sa, ma)
        runs.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    warped = mapping.transform(moving)
    save_field(os.path.join(d, 'dipy_forward.raw'), np.asarray(mapping.get_forward_field()))
    res = {'seconds': float(np.median(runs)), 'seconds_all': runs, 'cpu_seconds': float(np.median(cpus)),
           'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 'final_cc': global_cc(warped, static),
           'iterations': len(sdr.full_energy_profile)}
    print(json.dumps(res))


def read_elastix(root, case, out):
    """transformix -def all -jac all output -> elastix_forward.raw (RAS mm) and the Jacobian's minimum over the mask.
    ITK stores vectors in LPS physical coordinates: RAS components are (-x, -y, z)."""
    import nibabel as nib
    d = os.path.join(root, case)
    static, sa = load_nii(os.path.join(d, 'static.nii'))
    mask = load_nii(os.path.join(d, 'mask.nii'))[0] > 0
    dim = static.ndim
    img = nib.load(os.path.join(out, 'deformationField.nii'))
    v = np.asarray(img.dataobj, dtype=np.float64)
    v = v.reshape(static.shape + (dim,))
    if not np.allclose(img.affine[:dim, :dim], sa[:dim, :dim], atol=1e-4) or not np.allclose(img.affine[:dim, 3], sa[:dim, 3], atol=1e-3):
        raise SystemExit(f'transformix wrote the field on another grid: {img.affine} vs {sa}')
    v[..., 0] *= -1
    v[..., 1] *= -1
    save_field(os.path.join(d, 'elastix_forward.raw'), v)
    jac = np.asarray(nib.load(os.path.join(out, 'spatialJacobian.nii')).dataobj, dtype=np.float64).reshape(static.shape)
    print(json.dumps({'min_jacobian_transformix': float(jac[mask].min()), 'folds_transformix': int((jac <= 0).sum())}))


def field_jacobian(f, lin, mask):
    """det(I + Df) at the mask voxels, Df = d f / d world by central differences (one-sided at the edges)."""
    dim = f.shape[-1]
    inv = np.linalg.inv(lin)
    dvox = np.empty((int(mask.sum()), dim, dim))
    for c in range(dim):
        g = np.gradient(f[..., c])
        for a in range(dim):
            dvox[:, c, a] = g[a][mask]
    J = dvox @ inv + np.eye(dim)[None]
    return np.linalg.det(J)


def evaluate(root, case, who):
    d = os.path.join(root, case)
    static, sa = load_nii(os.path.join(d, 'static.nii'))
    moving, ma = load_nii(os.path.join(d, 'moving.nii'))
    mask3 = load_nii(os.path.join(d, 'mask.nii'))[0] > 0
    with open(os.path.join(d, 'truth.json')) as f:
        truth = json.load(f)
    dim = static.ndim
    planar = os.path.join(d, who + '_forward_planar.raw')
    if os.path.exists(planar):
        # the module's own result (tests/bench/syn_user_peak.ps1): planar components and a prealign P, map y -> P(y + f(y))
        raw = np.fromfile(planar, dtype='<f4').reshape((dim,) + tuple(static.shape[::-1]))
        f = np.stack([raw[c].transpose(tuple(range(dim - 1, -1, -1))) for c in range(dim)], -1).astype(np.float64)
        with open(os.path.join(d, who + '_prealign.json')) as fp:
            P = np.array(json.load(fp), float)
    else:
        f = load_field(os.path.join(d, who + '_forward.raw'), static.shape).astype(np.float64)
        P = np.eye(4)
    Pl = P[:dim, :dim] if dim == 3 else P[np.ix_([0, 1], [0, 1])]
    Pt = P[:dim, 3:4]
    pts, lin = world_points(static.shape, sa)
    fv = np.stack([f[..., c].ravel() for c in range(dim)])
    # the static->moving map as one displacement (world mm): P(y + f(y)) - y
    q = Pl @ (pts + fv) + Pt
    fv = q - pts
    # warped moving through the recovered map (linear, zero outside) and its global correlation with the static
    inv = np.linalg.inv(ma)
    vox = inv[:dim, :dim] @ q + inv[:dim, 3:4] if dim == 3 else inv[:2, :2] @ q + inv[:2, 3:4]
    warped = ndimage.map_coordinates(moving.astype(np.float64), vox, order=1, mode='constant').reshape(static.shape)
    jac = field_jacobian(f, lin, mask3) * np.linalg.det(Pl)
    out = {'case': case, 'who': who, 'final_cc': global_cc(warped, static), 'min_jacobian': float(jac.min()),
           'folds_mask': int((jac <= 0).sum())}
    if truth['bumps'] is not None:
        mask = mask3.ravel()
        r = fv[:, mask] + bumps_eval(truth['bumps'], q[:, mask])
        emm = np.sqrt((r ** 2).sum(0))
        evox = np.sqrt((np.linalg.solve(lin, r) ** 2).sum(0))
        e0 = np.sqrt((bumps_eval(truth['bumps'], pts[:, mask]) ** 2).sum(0))
        out.update({'mean_err_mm': float(emm.mean()), 'median_err_mm': float(np.median(emm)),
                    'p95_err_mm': float(np.percentile(emm, 95)), 'max_err_mm': float(emm.max()),
                    'median_err_vox': float(np.median(evox)),
                    'identity_mean_err_mm': float(e0.mean()), 'identity_max_err_mm': float(e0.max())})
    print(json.dumps(out))


if __name__ == '__main__':
    cmd = sys.argv[1] if len(sys.argv) > 1 else ''
    if cmd == 'prepare':
        prepare(sys.argv[2], '--big' in sys.argv)
    elif cmd == 'prepare-seeds':
        prepare_seeds(sys.argv[2], '--more' in sys.argv[3:])
    elif cmd == 'dipy':
        run_dipy(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif cmd == 'elastix':
        read_elastix(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == 'evaluate':
        evaluate(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
