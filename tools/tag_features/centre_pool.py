#!/usr/bin/python3
"""One forward pass of the whole photo, pooled twice: is the centre of its feature map as good
for the heads as the centre-crop embedding? Writes an .npz for cv.py with the labeled-or-not
front photos' `crop` (HomeLens's embedding: shorter side 256, centre 224), `nat` (the whole photo
as the `-whole` model spec embeds it, all of the last feature map averaged) and `nat_c` (the same
map averaged over the cells the centre crop covers). About 1 minute on 2 cores.

  /usr/bin/python3 centre_pool.py /tmp/natc.npz && /usr/bin/python3 cv.py /tmp/natc.npz crop,nat,nat_c
"""
import csv
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../ceiling"))
from common import D, SHARED  # noqa: E402
from scales import FEATURES, MEAN, STD, centre, whole  # noqa: E402

net = cv2.dnn.readNetFromONNX(SHARED + "/models/mobilenetv2-torchvision-imagenet/mobilenetv2_fp32.onnx")


def feature_map(rgb):
    net.setInput(((rgb.astype(np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)[None].copy())
    return net.forward(FEATURES)[0]


rows = [r for r in csv.DictReader(open(D + "manifest.csv")) if r["room_type"] == "frontal"]
feats = {"crop": [], "nat": [], "nat_c": []}
paths, cosines = [], []
for r in rows:
    rgb = cv2.cvtColor(cv2.imread(D + r["path"]), cv2.COLOR_BGR2RGB)
    paths.append(r["path"])
    crop = feature_map(centre(rgb)).mean((1, 2))
    m = feature_map(whole(rgb, 224))
    h, w = m.shape[1:]
    aspect = rgb.shape[1] / rgb.shape[0]
    # The centre crop keeps 224/256 of the shorter side and 224/(256 aspect) of the longer.
    cw = max(1, round(w * 224 / 256 / max(aspect, 1)))
    ch = max(1, round(h * 224 / 256 * min(aspect, 1)))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    c = m[:, y0:y0 + ch, x0:x0 + cw].mean((1, 2))
    feats["crop"].append(crop)
    feats["nat"].append(m.mean((1, 2)))
    feats["nat_c"].append(c)
    cosines.append(float(c @ crop / np.linalg.norm(c) / np.linalg.norm(crop)))
print("cosine of nat_c to crop over %d front photos: median %.4f, least %.4f"
      % (len(cosines), np.median(cosines), np.min(cosines)))
np.savez(sys.argv[1], paths=np.array(paths), **{k: np.array(v, np.float32) for k, v in feats.items()})
