"""Cross-check for RegPS's cubic B-spline: resample a NIfTI file into another file's grid with nibabel's
resample_from_to at its default order=3 (scipy.ndimage's prefiltered cubic spline, mode='constant').

usage: resample_cubic.py SOURCE.nii REFERENCE.nii OUT.nii
"""
import sys

import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to

src, ref, out = sys.argv[1:4]
reference = nib.load(ref)
r = resample_from_to(nib.load(src), (reference.shape, reference.affine))  # order=3, mode='constant', cval=0
nib.save(nib.Nifti1Image(np.asarray(r.dataobj, dtype=np.float32), r.affine), out)
print("ok")
