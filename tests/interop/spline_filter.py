#!/usr/bin/python3
"""Cubic B-spline coefficients by scipy (an independent client for BSplinePrefilter's tests).

  spline_filter.py RAW NZ NY NX    RAW: float32 little-endian, x fastest; prints the coefficients (mirror mode), x fastest
"""
import sys

import numpy as np
from scipy.ndimage import spline_filter

raw, nz, ny, nx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a = np.fromfile(raw, dtype="<f4").astype(np.float64).reshape((nz, ny, nx))
c = spline_filter(a, order=3, mode="mirror", output=np.float64)
print(" ".join(repr(float(v)) for v in c.ravel()))
