#!/usr/bin/env python3
"""nibabel's side of the "nifti-load" comparison (tests/RegPS.Benchmarks/NiftiLoadComparison.cs).

  nifti_load_bench.py make OUT.nii.gz
      Writes a 193x229x193 int16 gzip NIfTI (1 mm, nibabel's default gzip level) with realistic content: the ITK
      example brain (KmeansTest_T1UCharRaw.nii.gz) upsampled by linear interpolation when it is installed, else
      smoothed noise. Prints JSON {"source", "bytes"}.

  nifti_load_bench.py time FILE REPEATS
      One warm-up, then REPEATS times nib.load(FILE).get_fdata(); prints JSON {"median", "times"} in seconds.
"""
import json
import os
import sys
import time

import numpy as np
import nibabel as nib

SHAPE = (193, 229, 193)
ITK_BRAIN = "/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz"


def make(out):
    from scipy import ndimage

    if os.path.exists(ITK_BRAIN):
        src = np.asanyarray(nib.load(ITK_BRAIN).dataobj).astype(np.float32)
        data = ndimage.zoom(src, [t / s for t, s in zip(SHAPE, src.shape)], order=1)
        data = data[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
        data = data / max(float(data.max()), 1.0) * 3000.0
        source = "ITK KmeansTest_T1UCharRaw brain, upsampled"
    else:
        rng = np.random.default_rng(0)
        data = ndimage.gaussian_filter(rng.standard_normal(SHAPE).astype(np.float32), 3.0)
        data = (data - data.min()) / (data.max() - data.min()) * 3000.0
        source = "smoothed noise"
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = [-96.0, -132.0, -78.0]
    img = nib.Nifti1Image(np.round(data).astype(np.int16), affine)
    img.set_data_dtype(np.int16)
    nib.save(img, out)
    json.dump({"source": source, "bytes": os.path.getsize(out), "shape": list(SHAPE)}, sys.stdout)


def timed(path, repeats):
    nib.load(path).get_fdata()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        nib.load(path).get_fdata()
        times.append(time.perf_counter() - t0)
    json.dump({"median": float(np.median(times)), "times": times}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "time":
        timed(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
