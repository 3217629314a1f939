#!/usr/bin/python3
"""What one-sided query expansion of the visual part would add to `final` for query photos the
heads' domain model leaves untagged (outside the houses), measured leave-one-out on a labeled
collection. The evaluator's methods need a symmetric score, so this runs outside it, from the
embeddings an index stores and the tags `homelens tag --json` prints (same manifest order):

  build/homelens tag --db WANG.db --manifest ../shared/data/wang_corel1k/manifest.csv --json > tags.json
  tools/ceiling/qe_outside.py --db WANG.db --manifest ../shared/data/wang_corel1k/manifest.csv --tags tags.json

`final` here is rank::score_parts with the default weights (class 1, hard at front 0.5; tag 0.3
over style and stories; visual (cos + 1) / 2); its MAP must equal `homelens eval retrieval
--method final`'s, which checks the reimplementation.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qe_check import expand, load, mean_ap  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--tags", required=True, help="`homelens tag --json` output for the manifest")
    ap.add_argument("--label-column", default="class_id")
    ap.add_argument("--model", default="mobilenetv2-torchvision-imagenet")
    ap.add_argument("--alpha", type=float, default=3.0)
    ap.add_argument("--n", type=int, action="append", help="neighbours (default 5, 10)")
    args = ap.parse_args()
    x, y = load(args.db, args.manifest, args.label_column, args.model)
    with open(args.tags) as f:
        tags = [json.loads(line) for line in f]
    if len(tags) != len(x):
        sys.exit("%s: %d tag lines for %d photos" % (args.tags, len(tags), len(x)))
    front = np.array([(t["front"] or 0.0) >= 0.5 for t in tags])
    outside = np.array([t["front"] == 0 and t["style"] is None and t["room"] is None for t in tags])

    def same(key):
        v = np.array([t[key] if t[key] is not None else "" for t in tags], dtype=object)
        return ((v[:, None] == v[None, :]) & (v[:, None] != "")).astype(float)

    fixed = (front[:, None] & front[None, :]).astype(float) + 0.3 * (same("style") + same("stories")) / 2
    cos = x @ x.T
    print("%d photos, %d outside the heads' domain" % (len(x), outside.sum()))
    print("final MAP %.4f  cnn %.4f" % (mean_ap(fixed + (cos + 1) / 2, y), mean_ap(cos, y)))
    for n in args.n or [5, 10]:
        qcos = expand(x, n, args.alpha) @ x.T
        mixed = np.where(outside[:, None], qcos, cos)
        print("n=%d alpha=%g: final, queries outside expanded %.4f; every query expanded %.4f; "
              "cnn expanded %.4f" % (n, args.alpha, mean_ap(fixed + (mixed + 1) / 2, y),
                                     mean_ap(fixed + (qcos + 1) / 2, y), mean_ap(qcos, y)))


if __name__ == "__main__":
    main()
