#!/usr/bin/python3
"""Which part of the photo, at which scale, and which pooling of MobileNetV2's last feature map
make the best embedding: Wang Corel-1k leave-one-out MAP / P@20 (cosine), and on the houses the
all-pairs style / stories proxies over the labeled front photos (no training, so no folds: every
(query, positive, negative) of labeled fronts where the positive shares the query's style and
stories (ss), its style, or its stories, and the negative does not).

OpenCV DNN (python3-opencv) runs the shared torchvision ONNX file up to its last 1x1 convolution
(7x7x1280 for a 224 input); the pooling is done here. `centre` is the torchvision recipe (shorter
side 256, centre 224); `whole S` is the shipped "whole" spec (shorter side S, the longer a multiple
of 16 nearest the photo's aspect, scaled to cover and centre-cropped); `squeeze S` resizes to SxS.
Throw-away measurement, not part of the product: about 6 minutes on 2 cores.

  tools/ceiling/scales.py [--shared ../shared]
"""
import argparse
import csv
import os

import cv2
import numpy as np

FEATURES = "onnx_node_output_0!627_quantized_f_clip"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def centre(img, short=256, crop=224):
    h, w = img.shape[:2]
    k = short / min(h, w)
    r = cv2.resize(img, (max(crop, round(w * k)), max(crop, round(h * k))), interpolation=cv2.INTER_AREA)
    y, x = (r.shape[0] - crop) // 2, (r.shape[1] - crop) // 2
    return r[y:y + crop, x:x + crop]


def whole(img, short, step=16, max_aspect=2.0):
    h, w = img.shape[:2]
    aspect = max(h, w) / min(h, w)
    longer = int(np.clip(round(short * aspect / step) * step, short, int(short * max_aspect) // step * step))
    tw, th = (longer, short) if w >= h else (short, longer)
    k = max(tw / w, th / h)
    r = cv2.resize(img, (max(tw, round(w * k)), max(th, round(h * k))), interpolation=cv2.INTER_AREA)
    y, x = (r.shape[0] - th) // 2, (r.shape[1] - tw) // 2
    return r[y:y + th, x:x + tw]


def squeeze(img, s):
    return cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)


INPUTS = {
    "centre": centre,
    "whole 160": lambda i: whole(i, 160),
    "whole 192": lambda i: whole(i, 192),
    "whole 224": lambda i: whole(i, 224),
    "whole 320": lambda i: whole(i, 320),
    "squeeze 224": lambda i: squeeze(i, 224),
    "squeeze 288": lambda i: squeeze(i, 288),
}
POOLS = {
    "avg": lambda f: f.mean(1),
    "max": lambda f: f.max(1),
    "gem2": lambda f: np.sqrt((np.maximum(f, 1e-6) ** 2).mean(1)),
    "gem3": lambda f: np.cbrt((np.maximum(f, 1e-6) ** 3).mean(1)),
}


def features(net, paths):
    out = {}
    for p in paths:
        img = cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB)
        for name, prep in INPUTS.items():
            x = ((prep(img).astype(np.float32) / 255 - MEAN) / STD).transpose(2, 0, 1)[None].copy()
            net.setInput(x)
            f = net.forward(FEATURES)[0]
            f = f.reshape(f.shape[0], -1)
            for pool, fn in POOLS.items():
                out.setdefault((name, pool), []).append(fn(f))
    return {k: l2n(np.stack(v)) for k, v in out.items()}


def l2n(x):
    x = x.astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def map_p20(x, y):
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    n = len(y)
    order = np.argsort(-s, axis=1)[:, :n - 1]
    rel = y[order] == y[:, None]
    ap = (rel * np.cumsum(rel, 1) / np.arange(1, n)).sum(1) / rel.sum(1)
    return ap.mean(), rel[:, :20].mean()


def all_pairs(x, same_pos, same_neg):
    s = x @ x.T
    right, total = 0.0, 0
    for q in range(len(x)):
        pos = [j for j in range(len(x)) if j != q and same_pos(q, j)]
        neg = [j for j in range(len(x)) if j != q and same_neg(q, j)]
        if pos and neg:
            sp, sn = s[q, pos][:, None], s[q, neg][None, :]
            right += (sp > sn).mean() + 0.5 * (sp == sn).mean()
            total += 1
    return right / total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "../../../shared"))
    args = ap.parse_args()
    net = cv2.dnn.readNetFromONNX(os.path.join(args.shared, "models/mobilenetv2-torchvision-imagenet/mobilenetv2_fp32.onnx"))

    wang = os.path.join(args.shared, "data/wang_corel1k")
    rows = list(csv.DictReader(open(os.path.join(wang, "manifest.csv"))))
    y = np.array([int(r["class_id"]) for r in rows])
    wf = features(net, [os.path.join(wang, r["path"]) for r in rows])

    houses = os.path.join(args.shared, "data/houses_dataset")
    labels = {r["house_id"]: r for r in csv.DictReader(open(os.path.join(houses, "labels_train.csv")))
              if r["is_front"] == "1"}
    fronts = [r for r in csv.DictReader(open(os.path.join(houses, "manifest.csv")))
              if r["room_type"] == "frontal" and r["house_id"] in labels]
    style = [labels[r["house_id"]]["style"] for r in fronts]
    stories = [labels[r["house_id"]]["stories"] for r in fronts]
    hf = features(net, [os.path.join(houses, r["path"]) for r in fronts])
    both = lambda q, j: style[q] == style[j] and stories[q] == stories[j]  # noqa: E731
    proxies = {
        "ss": (both, lambda q, j: not both(q, j)),
        "style": (lambda q, j: style[q] == style[j], lambda q, j: style[q] != style[j]),
        "stories": (lambda q, j: stories[q] == stories[j], lambda q, j: stories[q] != stories[j]),
    }

    print("Wang %d photos; houses %d labeled fronts" % (len(y), len(fronts)))
    print("%-14s %-5s %8s %8s   %7s %7s %7s" % ("input", "pool", "Wang MAP", "P@20", "ss", "style", "stories"))

    def row(name, pool, w, h):
        m, p20 = map_p20(w, y)
        hs = [all_pairs(h, *proxies[k]) for k in ("ss", "style", "stories")]
        print("%-14s %-5s %8.4f %8.4f   %7.4f %7.4f %7.4f" % (name, pool, m, p20, *hs))

    for (name, pool) in wf:
        row(name, pool, wf[(name, pool)], hf[(name, pool)])
    for combo in (("whole 224", "whole 320"),):
        row(" + ".join(combo), "avg", l2n(sum(wf[(c, "avg")] for c in combo)),
            l2n(sum(hf[(c, "avg")] for c in combo)))


if __name__ == "__main__":
    main()
