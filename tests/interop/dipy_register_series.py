"""DIPY's register_series on a 4D NIfTI, for the motion-correction cross-check (MotionCorrectionDipyTests).

usage: dipy_register_series.py SERIES.nii[.gz] REF_INDEX
Prints JSON: {"affines": [[16 row-major values] per volume], "seconds": s}. Each affine maps reference world to the
volume's world (DIPY's AffineMap meaning). Pipeline: translation then rigid, DIPY's default levels and MI, run in a
world recentred on the grid's centre (see below).
"""
import json
import sys
import time

import nibabel as nib
import numpy as np
from dipy.align import register_series


def main():
    path, ref = sys.argv[1], int(sys.argv[2])
    img = nib.load(path)
    data = np.asarray(img.dataobj, dtype=np.float64)
    # DIPY's transforms rotate about the world origin, which here lies about 200 mm from the head: a rotation then
    # couples with a large translation and the optimiser stops far from the optimum (measured: half the motion left).
    # So run DIPY in a world whose origin is the grid's centre, and carry the matrices back: A = S^-1 A' S.
    centre = img.affine @ np.append((np.array(data.shape[:3]) - 1) / 2.0, 1.0)
    shift = np.eye(4)
    shift[:3, 3] = -centre[:3]
    affine = shift @ img.affine
    start = time.time()
    stdout, sys.stdout = sys.stdout, sys.stderr  # DIPY prints its level messages; keep stdout for the JSON
    try:
        _, affines = register_series(data, ref, pipeline=["translation", "rigid"],
                                     series_affine=affine, ref_affine=affine)
    finally:
        sys.stdout = stdout
    seconds = time.time() - start
    back = np.linalg.inv(shift)
    out = [(back @ affines[..., i] @ shift).reshape(16).tolist() for i in range(affines.shape[-1])]
    json.dump({"affines": out, "seconds": seconds}, sys.stdout)


if __name__ == "__main__":
    main()
