"""Reports, as JSON, how nibabel sees a displacement-field NIfTI: shape, intent, affine and a few vectors.

usage: warp_layout.py FILE.nii.gz I J K
"""
import json
import sys

import nibabel as nib
import numpy as np

img = nib.load(sys.argv[1])
i, j, k = (int(v) for v in sys.argv[2:5])
data = np.asarray(img.dataobj)
print(json.dumps({
    "shape": list(img.shape),
    "intent": int(img.header["intent_code"]),
    "affine": img.affine.tolist(),
    "vector": [float(v) for v in data[i, j, k, 0, :]],
}))
