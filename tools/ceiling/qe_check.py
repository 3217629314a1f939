#!/usr/bin/python3
"""Cross-check of `homelens eval retrieval`'s cnn-dba and cnn-qe, and the pure one-sided alpha query
expansion that the evaluator (which needs a symmetric score) cannot measure.

Leave-one-out MAP over a manifest, from the embeddings an index stores (build it first with
`homelens index --db DB --manifest CSV`), with numpy (python3-numpy):

  tools/ceiling/qe_check.py --db /tmp/retr/wang.db --manifest ../shared/data/wang_corel1k/manifest.csv
"""
import argparse
import csv
import hashlib
import os
import sqlite3

import numpy as np


def load(db_path, manifest, label, model):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    root = os.path.dirname(os.path.abspath(manifest))
    x, y = [], []
    with open(manifest, newline="") as f:
        for r in csv.DictReader(f):
            with open(os.path.join(root, r["path"]), "rb") as photo:
                h = hashlib.sha256(photo.read()).hexdigest()
            row = db.execute("select embedding from photos where sha256=? and model_id=?",
                             (h, model)).fetchone()
            if row is None:
                raise SystemExit("%s: %s is not in %s" % (manifest, r["path"], db_path))
            x.append(np.frombuffer(row[0], dtype=np.float32))
            y.append(r[label])
    x = np.array(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(y)


def expand(x, n, alpha):
    """Each row plus its n nearest other rows weighted by max(cos, 0)^alpha, L2-normalized."""
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    out = x.copy()
    for i in range(len(x)):
        idx = np.argsort(-s[i], kind="stable")[:n]
        out[i] += (np.maximum(s[i, idx], 0) ** alpha) @ x[idx]
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def mean_ap(score, y):
    """score[q, j]: higher ranks first; each q against all j != q, ties by lower index."""
    return float(np.mean(average_precisions(score, y)))


def average_precisions(score, y):
    """Each query's average precision, as mean_ap ranks."""
    n = len(y)
    aps = []
    for q in range(n):
        s = score[q].copy()
        s[q] = -np.inf
        order = np.argsort(-s, kind="stable")[:n - 1]
        rel = (y[order] == y[q]).astype(float)
        prec = np.cumsum(rel) / np.arange(1, n)
        aps.append((prec * rel).sum() / max(rel.sum(), 1))
    return np.array(aps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--label-column", default="class_id")
    ap.add_argument("--model", default="mobilenetv2-torchvision-imagenet")
    ap.add_argument("--alpha", type=float, default=3.0)
    ap.add_argument("--n", type=int, action="append", help="neighbours (default 1, 3, 5, 10)")
    args = ap.parse_args()
    x, y = load(args.db, args.manifest, args.label_column, args.model)
    print("cnn MAP %.4f" % mean_ap(x @ x.T, y))
    for n in args.n or [1, 3, 5, 10]:
        e = expand(x, n, args.alpha)
        print("n=%d alpha=%g: dba %.4f  qe symmetrized (cnn-qe) %.4f  qe pure %.4f" % (
            n, args.alpha, mean_ap(e @ e.T, y), mean_ap(0.5 * (e @ x.T + x @ e.T), y),
            mean_ap(e @ x.T, y)))


if __name__ == "__main__":
    main()
