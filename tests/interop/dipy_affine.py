#!/usr/bin/python3
"""DIPY 1.6's affine registration of a 2D pair (an independent client for the Dipy preset's test).

  dipy_affine.py STATIC.raw MOVING.raw NX NY STAGES   raw float32 little-endian, x fastest, 1 mm pixels, origin at
                                                      pixel 0; STAGES e.g. translation,rigid. Runs transform_centers_of_mass,
                                                      then each stage with AffineRegistration(MutualInformationMetric(32),
                                                      level_iters [10000, 1000, 100], sigmas [3, 1, 0], factors [4, 2, 1]);
                                                      prints the 3x3 static-world -> moving-world matrix, row by row
"""
import sys

import numpy as np
from dipy.align.imaffine import AffineRegistration, MutualInformationMetric, transform_centers_of_mass
from dipy.align.transforms import AffineTransform2D, RigidTransform2D, TranslationTransform2D

s_raw, m_raw, nx, ny, stages = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split(",")
static = np.fromfile(s_raw, dtype="<f4").astype(np.float64).reshape((ny, nx)).T
moving = np.fromfile(m_raw, dtype="<f4").astype(np.float64).reshape((ny, nx)).T
eye = np.eye(3)
kinds = {"translation": TranslationTransform2D, "rigid": RigidTransform2D, "affine": AffineTransform2D}
start = transform_centers_of_mass(static, eye, moving, eye).affine
reg = AffineRegistration(metric=MutualInformationMetric(32, None), level_iters=[10000, 1000, 100],
                         sigmas=[3.0, 1.0, 0.0], factors=[4, 2, 1], verbosity=0)
for name in stages:
    start = reg.optimize(static, moving, kinds[name](), None, eye, eye, starting_affine=start).affine
for row in start:
    print(" ".join(repr(float(v)) for v in row))
