#!/usr/bin/python3
"""DIPY side of the `syn` comparison (run with /usr/bin/python3, DIPY 1.6).

  syn_dipy.py prepare DIR [--big]     write the cases' inputs (raw float32 + JSON) under DIR
  syn_dipy.py dipy DIR CASE [N]       run DIPY SymmetricDiffeomorphicRegistration(CCMetric(dim)) at its defaults
                                      N times (default 1) in this process, write DIR/CASE/dipy_forward.raw (last run)
                                      and dipy.json (seconds = median, seconds_all, CPU seconds, peak MB, final CC)
  syn_dipy.py evaluate DIR CASE WHO   score WHO_forward.raw (static->moving displacement, world mm, on the static grid)
                                      against the known warp; prints one JSON line

Exchange format: a volume is NAME.raw (float32 little-endian, x fastest = NIfTI order) plus NAME.json
{"shape": [nx, ny(, nz)], "affine": 4x4 grid-to-world rows (RAS mm)}; a field is NAME.raw with
dim components per voxel (interleaved, components fastest) on the static grid.

Ground truth: moving(z) = static(z + e(z)) where e is an analytic sum of Gaussian bumps (world mm), so the true
static->moving point map is the inverse of z -> z + e(z). A recovered map y -> y + f(y) is scored by the residual
r(y) = f(y) + e(y + f(y)) (zero for the exact map), evaluated analytically, over the object (static > 10% of max).
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


def save_vol(path, arr, affine):
    arr = np.asarray(arr, dtype='<f4')
    arr.ravel(order='F').tofile(path + '.raw')
    with open(path + '.json', 'w') as f:
        json.dump({'shape': list(arr.shape), 'affine': np.asarray(affine, float).tolist()}, f)


def load_vol(path):
    with open(path + '.json') as f:
        meta = json.load(f)
    shape = tuple(meta['shape'])
    arr = np.fromfile(path + '.raw', dtype='<f4').reshape(shape, order='F')
    return arr, np.array(meta['affine'], float)


def load_field(path, shape):
    dim = len(shape)
    raw = np.fromfile(path, dtype='<f4')
    # components fastest, then x, y, z
    return raw.reshape(tuple(shape[::-1]) + (dim,)).transpose(tuple(range(dim - 1, -1, -1)) + (dim,))


def world_points(shape, affine):
    dim = len(shape)
    idx = np.indices(shape, dtype=float).reshape(dim, -1)
    lin = affine[:dim, :dim] if dim == 3 else affine[np.ix_([0, 1], [0, 1])]
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
    pts, lin = world_points(shape, affine)
    q = pts + bumps_eval(bumps, pts)
    inv = np.linalg.inv(np.vstack([np.hstack([lin, affine[:len(shape), 3:4]]), [0] * len(shape) + [1]]))
    vox = inv[:len(shape), :len(shape)] @ q + inv[:len(shape), len(shape):]
    return ndimage.map_coordinates(static.astype(np.float64), vox, order=1, mode='constant', cval=0).reshape(shape)


def min_jacobian(bumps, shape, affine):
    pts, lin = world_points(shape, affine)
    dim = len(shape)
    h = 1e-3
    J = np.zeros((dim, dim, pts.shape[1]))
    for a in range(dim):
        d = np.zeros((dim, 1)); d[a] = h
        J[:, a, :] = (bumps_eval(bumps, pts + d) - bumps_eval(bumps, pts - d)) / (2 * h)
    for a in range(dim):
        J[a, a, :] += 1
    return float(np.min(np.linalg.det(J.transpose(2, 0, 1))))


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
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(20261124)
    cases = []
    # 1. DIPY's own 2D pair (static = C, moving = circle, as in DIPY's syn example); no known field.
    d = os.path.join(root, 'circle_c'); os.makedirs(d, exist_ok=True)
    c = np.load(DIPYDATA + 'C.npy').astype(np.float32)
    o = np.load(DIPYDATA + 'circle.npy').astype(np.float32)
    save_vol(os.path.join(d, 'static'), c, np.eye(4)); save_vol(os.path.join(d, 'moving'), o, np.eye(4))
    with open(os.path.join(d, 'truth.json'), 'w') as f:
        json.dump({'bumps': None}, f)
    cases.append('circle_c')
    # 2. ITK brain slice (rows = y), warped by a known smooth field.
    from skimage import io
    img = io.imread(ITK + 'BrainProtonDensitySlice.png').astype(np.float32).T  # (x, y)
    add_case(root, 'brain2d', img, np.eye(4), rng, 8, 4.0, 22.0)
    cases.append('brain2d')
    # 3. ITK T1 volume (128x128x62, 2x2x3 mm, axes permuted), warped by a known smooth field.
    import nibabel as nib
    t1 = nib.load(ITK + 'KmeansTest_T1UCharRaw.nii.gz')
    vol = np.asarray(t1.dataobj, dtype=np.float32)
    add_case(root, 't1_3d', vol, t1.affine, rng, 8, 4.0, 16.0)
    cases.append('t1_3d')
    if big:
        # 4. The T1 resampled (trilinear) onto a 193x229x193 1 mm RAS grid centred on it.
        shape = (193, 229, 193)
        ctr = t1.affine @ np.array([(n - 1) / 2 for n in vol.shape] + [1])
        aff = np.eye(4); aff[:3, 3] = ctr[:3] - (np.array(shape) - 1) / 2
        pts, _ = world_points(shape, aff)
        inv = np.linalg.inv(t1.affine)
        vox = inv[:3, :3] @ pts + inv[:3, 3:]
        up = ndimage.map_coordinates(vol.astype(np.float64), vox, order=1, mode='constant').reshape(shape)
        add_case(root, 't1_big', up.astype(np.float32), aff, rng, 8, 4.0, 30.0)
        cases.append('t1_big')
    print(json.dumps({'cases': cases}))


def add_case(root, name, static, affine, rng, n, amp_vox, sigma_vox):
    d = os.path.join(root, name); os.makedirs(d, exist_ok=True)
    bumps = make_bumps(rng, static.shape, affine, n, amp_vox, sigma_vox)
    mj = min_jacobian(bumps, static.shape, affine)
    moving = warp_by_bumps(static, affine, bumps).astype(np.float32)
    save_vol(os.path.join(d, 'static'), static, affine)
    save_vol(os.path.join(d, 'moving'), moving, affine)
    with open(os.path.join(d, 'truth.json'), 'w') as f:
        json.dump({'bumps': bumps, 'min_jacobian': mj}, f)


def global_cc(a, b):
    a = a.ravel().astype(np.float64); b = b.ravel().astype(np.float64)
    a -= a.mean(); b -= b.mean()
    return float((a @ b) / np.sqrt((a @ a) * (b @ b)))


def run_dipy(root, case, repeats=1):
    from dipy.align.imwarp import SymmetricDiffeomorphicRegistration
    from dipy.align.metrics import CCMetric
    d = os.path.join(root, case)
    static, sa = load_vol(os.path.join(d, 'static'))
    moving, ma = load_vol(os.path.join(d, 'moving'))
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
    seconds = float(np.median(runs))
    cpu = float(np.median(cpus))
    warped = mapping.transform(moving)
    fwd = np.asarray(mapping.get_forward_field(), dtype='<f4')
    # components fastest, x fastest among voxels
    fwd.transpose(tuple(range(dim - 1, -1, -1)) + (dim,)).tofile(os.path.join(d, 'dipy_forward.raw'))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    res = {'seconds': seconds, 'seconds_all': runs, 'cpu_seconds': cpu, 'peak_mb': peak_mb, 'final_cc': global_cc(warped, static),
           'iterations': [len(x) for x in [sdr.full_energy_profile]]}
    with open(os.path.join(d, 'dipy.json'), 'w') as f:
        json.dump(res, f)
    print(json.dumps(res))


def evaluate(root, case, who):
    d = os.path.join(root, case)
    static, sa = load_vol(os.path.join(d, 'static'))
    moving, ma = load_vol(os.path.join(d, 'moving'))
    with open(os.path.join(d, 'truth.json')) as f:
        truth = json.load(f)
    dim = static.ndim
    f = load_field(os.path.join(d, who + '_forward.raw'), static.shape).astype(np.float64)
    pts, lin = world_points(static.shape, sa)
    fv = f.reshape(-1, dim).T if False else np.stack([f[..., c].ravel() for c in range(dim)])
    # warped moving through the recovered map (linear, zero outside) and its global correlation with the static
    q = pts + fv
    inv = np.linalg.inv(ma)
    vox = inv[:dim, :dim] @ q + inv[:dim, 3:3 + 1] if dim == 3 else inv[:2, :2] @ q + inv[:2, 3:4]
    warped = ndimage.map_coordinates(moving.astype(np.float64), vox, order=1, mode='constant').reshape(static.shape)
    out = {'case': case, 'who': who, 'final_cc': global_cc(warped, static)}
    if truth['bumps'] is not None:
        mask = (static > 0.1 * static.max()).ravel()
        r = fv + bumps_eval(truth['bumps'], q)
        rv = np.linalg.solve(lin, r)  # voxel units
        emm = np.sqrt((r ** 2).sum(0))[mask]
        evox = np.sqrt((rv ** 2).sum(0))[mask]
        t = -bumps_eval(truth['bumps'], pts)  # first-order size of the true displacement
        out.update({'median_err_vox': float(np.median(evox)), 'median_err_mm': float(np.median(emm)),
                    'p95_err_vox': float(np.percentile(evox, 95)),
                    'mean_true_disp_vox': float(np.mean(np.sqrt((np.linalg.solve(lin, t) ** 2).sum(0))[mask])),
                    'median_identity_err_vox': float(np.median(np.sqrt((np.linalg.solve(lin, bumps_eval(truth['bumps'], pts)) ** 2).sum(0))[mask]))})
    print(json.dumps(out))


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'prepare':
        prepare(sys.argv[2], '--big' in sys.argv)
    elif cmd == 'dipy':
        run_dipy(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif cmd == 'evaluate':
        evaluate(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
