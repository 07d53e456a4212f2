#!/usr/bin/python3
"""DIPY 1.6's SymmetricDiffeomorphicRegistration(CCMetric(2)) at its defaults on two images written by the xunit test
(SynDipyParityTests), for the comparison with RegPS's -Preset Dipy.

  dipy_syn.py DIR    reads DIR/static.raw and DIR/moving.raw (float32, x fastest) and DIR/meta.json {"shape": [nx, ny],
                     "spacing": [sx, sy]}; registers with identity prealign; writes DIR/dipy_forward.raw (float32,
                     x fastest, 2 world-mm components per pixel) and prints JSON: iterations per level, final energy
"""
import json
import sys

import numpy as np
from dipy.align.imwarp import SymmetricDiffeomorphicRegistration
from dipy.align.metrics import CCMetric

d = sys.argv[1]
meta = json.load(open(d + '/meta.json'))
nx, ny = meta['shape']
sp = np.array(meta['spacing'], dtype=np.float64)
# our layout is [y][x]; DIPY indexes [axis0][axis1], so axis 0 = x. float32 images: DIPY then runs in float32, as RegPS
static = np.fromfile(d + '/static.raw', dtype='<f4').reshape(ny, nx).T.copy()
moving = np.fromfile(d + '/moving.raw', dtype='<f4').reshape(ny, nx).T.copy()
aff = np.diag([sp[0], sp[1], 1.0])
sdr = SymmetricDiffeomorphicRegistration(CCMetric(2))
mapping = sdr.optimize(static, moving, aff, aff)
f = np.asarray(mapping.get_forward_field(), dtype='<f4')
f.transpose(1, 0, 2).tofile(d + '/dipy_forward.raw')
print(json.dumps({'energies': len(sdr.full_energy_profile), 'final_energy': float(sdr.full_energy_profile[-1])}))
