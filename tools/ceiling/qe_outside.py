#!/usr/bin/python3
"""What one-sided query expansion of the visual part would add to `final` for query photos the
heads' domain model leaves untagged (outside the houses), measured leave-one-out on a labeled
collection. The evaluator's methods need a symmetric score, so this runs outside it, from the
embeddings an index stores and the tags `homelens tag --json` prints (same manifest order):

  build/homelens tag --db WANG.db --manifest ../shared/data/wang_corel1k/manifest.csv --json > tags.json
  tools/ceiling/qe_outside.py --db WANG.db --manifest ../shared/data/wang_corel1k/manifest.csv --tags tags.json

With --class-halves, n and alpha are chosen on the queries of half the classes and measured on the
queries of the other half (both ways), so the figure does not rest on parameters the measured
queries picked.

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
from qe_check import average_precisions, expand, load, mean_ap  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--tags", required=True, help="`homelens tag --json` output for the manifest")
    ap.add_argument("--label-column", default="class_id")
    ap.add_argument("--model", default="mobilenetv2-torchvision-imagenet")
    ap.add_argument("--alpha", type=float, default=3.0)
    ap.add_argument("--n", type=int, action="append", help="neighbours (default 5, 10)")
    ap.add_argument("--class-halves", action="store_true",
                    help="choose n and alpha on half the classes' queries, measure on the others'")
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
    if args.class_halves:
        class_halves(x, y, outside, fixed, cos)
        return
    for n in args.n or [5, 10]:
        qcos = expand(x, n, args.alpha) @ x.T
        mixed = np.where(outside[:, None], qcos, cos)
        print("n=%d alpha=%g: final, queries outside expanded %.4f; every query expanded %.4f; "
              "cnn expanded %.4f" % (n, args.alpha, mean_ap(fixed + (mixed + 1) / 2, y),
                                     mean_ap(fixed + (qcos + 1) / 2, y), mean_ap(qcos, y)))


def class_halves(x, y, outside, fixed, cos):
    """Grid over n and alpha; each half of the classes picks the setting the other half is measured with."""
    labels = sorted(set(y), key=lambda v: (len(v), v))
    halves = [np.isin(y, labels[:len(labels) // 2]), np.isin(y, labels[len(labels) // 2:])]
    base = average_precisions(fixed + (cos + 1) / 2, y)
    grid = {}
    for n in (1, 2, 3, 5, 7, 10, 15, 20):
        for alpha in (1.0, 3.0, 5.0):
            qcos = expand(x, n, alpha) @ x.T
            grid[(n, alpha)] = average_precisions(fixed + (np.where(outside[:, None], qcos, cos) + 1) / 2, y)
    names = ["/".join(labels[:len(labels) // 2]), "/".join(labels[len(labels) // 2:])]
    held = [None, None]
    for pick, measure in ((0, 1), (1, 0)):
        best = max(grid, key=lambda p: grid[p][halves[pick]].mean())
        held[measure] = grid[best][halves[measure]]
        print("classes %s pick n=%d alpha=%g (their MAP %.4f); on classes %s: %.4f "
              "(no expansion %.4f, n=10 alpha=3 %.4f)"
              % (names[pick], best[0], best[1], grid[best][halves[pick]].mean(), names[measure],
                 held[measure].mean(), base[halves[measure]].mean(),
                 grid[(10, 3.0)][halves[measure]].mean()))
    held = np.concatenate(held)
    print("every query measured with the setting the other half picked: MAP %.4f (no expansion %.4f)"
          % (held.mean(), base.mean()))


if __name__ == "__main__":
    main()
