#!/usr/bin/python3
"""DIPY 1.6's fixed-point field inversion on a field written by the xunit test (DipyInversionTests).

  dipy_invert.py DIR MAXITER    reads DIR/field.raw (float32, x fastest, 3 components per voxel) and DIR/meta.json
                                {"shape": [nx, ny, nz], "spacing": [sx, sy, sz]}; writes DIR/dipy_inverse.raw in the
                                same layout: invert_vector_field_fixed_point_3d(d, inv(diag(spacing)), spacing,
                                MAXITER, tol=1e-12) from a zero start (so its 0.1-voxel max-residual stop still applies)
"""
import json
import sys

import numpy as np
from dipy.align import vector_fields as vf

d = sys.argv[1]
max_iter = int(sys.argv[2])
meta = json.load(open(d + '/meta.json'))
nx, ny, nz = meta['shape']
sp = np.array(meta['spacing'], dtype=np.float64)
# our layout is [z][y][x][c]; DIPY indexes [axis0][axis1][axis2][c], so axis 0 = x
field = np.fromfile(d + '/field.raw', dtype='<f4').reshape(nz, ny, nx, 3).transpose(2, 1, 0, 3).copy()
w2g = np.diag(np.concatenate([1.0 / sp, [1.0]]))
p = vf.invert_vector_field_fixed_point_3d(field, w2g, sp, max_iter, 1e-12)
np.asarray(p, dtype='<f4').transpose(2, 1, 0, 3).tofile(d + '/dipy_inverse.raw')
print(json.dumps({'max_abs': float(np.abs(p).max())}))
