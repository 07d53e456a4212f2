"""Cross-check for RegPS's resampler: resample a NIfTI file into another file's grid with nibabel's
resample_from_to (linear, order=1, and nearest, order=0) and write the results next to them.

usage: resample_interop.py SOURCE.nii REFERENCE.nii OUT_LINEAR.nii OUT_NEAREST.nii
"""
import sys

import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to

src, ref, out_linear, out_nearest = sys.argv[1:5]
source = nib.load(src)
reference = nib.load(ref)
for order, out in ((1, out_linear), (0, out_nearest)):
    r = resample_from_to(source, (reference.shape, reference.affine), order=order, mode="constant", cval=0.0)
    nib.save(nib.Nifti1Image(np.asarray(r.dataobj, dtype=np.float32), r.affine), out)
print("ok")
