#!/usr/bin/python3
"""Cross-validated proxies for "a person would call these houses alike", from the hand labels.

The 30 dev triplets are too few to choose a similarity by, and 28 of them contain a labeled house,
so anything trained on labels_train.csv cannot be judged on them. Instead, 5 folds by house: the
tag heads and the projection learn on 4/5 of the labeled houses (`homelens train`), and triplets
of front photos are drawn from the held-out fifth only:

  ss       positive shares style and stories with the query; negative shares not both
  style    positive shares the style; negative has another style
  stories  positive shares the stories; negative has other stories

Each method's right answers are pooled over the folds; accuracy with a 95% Wilson interval, and
the paired difference to a baseline method (same triplets, so far tighter than comparing the two
intervals): mean of right(method) - right(baseline) per triplet, +- 1.96 standard errors.
With --dev, also the dev triplets: all 30 (caveat: the heads and projection trained on most of
their houses) and the ones whose houses are all held out. With --model twice or more, the same
triplets judge every method under each model (heads trained for each), so models compare paired.

  tools/ceiling/cv_proxies.py --bin build/homelens --work /tmp/cv [--db houses.db] [--model M]...

The system numpy (python3-numpy) draws the triplets; the homelens CLI does everything else.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np

HOUSES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                      "data", "houses_dataset")
PROXIES = ("ss", "style", "stories")
METHODS = ("cnn", "final", "cnn-proj", "cnn-proj-mix", "final-proj")


def wilson(right, n, z=1.959964):
    if n == 0:
        return (0.0, 1.0)
    p = right / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr))
    return r.stdout


def read_labels(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def front_paths(manifest):
    root = os.path.dirname(os.path.abspath(manifest))
    out = {}
    with open(manifest, newline="") as f:
        for r in csv.DictReader(f):
            if r["room_type"] == "frontal":
                out[r["house_id"]] = os.path.join(root, r["path"])
    return out


def draw_triplets(houses, proxy, per_query, rng):
    """(query, positive, negative) house ids among `houses` (rows of the labels)."""
    out = []
    for q in houses:
        def same(h, key):
            return h[key] == q[key]
        if proxy == "ss":
            pos = [h for h in houses if h is not q and same(h, "style") and same(h, "stories")]
            neg = [h for h in houses if not (same(h, "style") and same(h, "stories"))]
        else:
            pos = [h for h in houses if h is not q and same(h, proxy)]
            neg = [h for h in houses if not same(h, proxy)]
        if not pos or not neg:
            continue
        for _ in range(per_query):
            p = pos[rng.integers(len(pos))]
            n = neg[rng.integers(len(neg))]
            out.append((q["house_id"], p["house_id"], n["house_id"]))
    return out


def with_model(cmd, model):
    return cmd + ["--model", model] if model else cmd


def train(args, labels_csv, heads, model=None):
    cmd = with_model([args.bin, "train", "--quiet", "--json", "--folds", "0", "--manifest", args.manifest,
                      "--labels", labels_csv, "--heads", heads, "--shrinkage", str(args.shrinkage)], model)
    for t in args.tasks.split(","):
        cmd += ["--task", t]
    for m in args.domain_extra:
        cmd += ["--domain-extra", m]
    if args.db:
        cmd += ["--db", args.db]
    run(cmd)


def evaluate(args, triplets_csv, heads, methods, model=None):
    cmd = with_model([args.bin, "eval", "triplets", "--quiet", "--json", "--triplets", triplets_csv,
                      "--heads", heads], model)
    if args.root:
        cmd += ["--root", args.root]
    for m in methods:
        cmd += ["--method", m]
    if args.final_weights:
        cmd += ["--final-weights", args.final_weights]
    if args.db:
        cmd += ["--db", args.db]
    return json.loads(run(cmd))


def write_triplets(path, triplets, fronts):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["query", "positive", "negative"])
        for t in triplets:
            w.writerow([fronts[h] for h in t])


def right_vector(j, m):
    """1 per triplet the method got right, in CSV order (data line i is CSV line i + 2)."""
    wrong = {w["line"] for w in j["methods"][m]["wrong"]}
    return [0 if i + 2 in wrong else 1 for i in range(j["n"])]


def table(title, right, methods, baseline):
    print(title)
    has_base = baseline in right
    print("%-13s %6s %8s %17s%s" % ("method", "n", "accuracy", "95% CI",
                                    "   vs %s (paired, 95%%)" % baseline if has_base else ""))
    for m in methods:
        r = np.array(right[m], dtype=float)
        n = len(r)
        lo, hi = wilson(int(r.sum()), n)
        line = "%-13s %6d %8.3f [%.3f, %.3f]" % (m, n, r.mean() if n else 0, lo, hi)
        if has_base and m != baseline and n > 1:
            d = r - np.array(right[baseline], dtype=float)
            h = 1.959964 * d.std(ddof=1) / math.sqrt(n)
            line += "   %+.3f [%+.3f, %+.3f]" % (d.mean(), d.mean() - h, d.mean() + h)
        print(line)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/homelens")
    ap.add_argument("--work", required=True, help="folder for the fold labels, heads, triplets")
    ap.add_argument("--manifest", default=os.path.join(HOUSES, "manifest.csv"))
    ap.add_argument("--labels", default=os.path.join(HOUSES, "labels_train.csv"))
    ap.add_argument("--domain-extra", action="append", default=[],
                    help="more in-domain photos for the heads' domain model (a manifest), as "
                         "scripts/setup gives the style set")
    ap.add_argument("--db", help="houses index used as an embedding cache")
    ap.add_argument("--root", help="passed to eval triplets")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--per-query", type=int, default=2, help="triplets drawn per query house")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shrinkage", type=float, default=0.9)
    ap.add_argument("--final-weights", help="class,tag,visual for the final methods")
    ap.add_argument("--method", action="append", help="methods (default: %s)" % ", ".join(METHODS))
    ap.add_argument("--baseline", default="final", help="method the others are compared with")
    ap.add_argument("--dev", help="also the dev triplets CSV (e.g. triplets_dev.csv)")
    ap.add_argument("--tasks", default="front,room,style,stories,projection,domain",
                    help="what homelens train learns per fold (the projection only serves the -proj methods)")
    ap.add_argument("--model", action="append", default=[],
                    help="model spec (default: homelens's); given twice or more, the heads train and "
                         "every method runs on the same triplets with each, named METHOD@MODEL")
    args = ap.parse_args()
    base_methods = args.method or list(METHODS)
    models = args.model or [None]
    named = (lambda m, model: m) if len(models) == 1 else (lambda m, model: "%s@%s" % (m, model))
    methods = [named(m, model) for model in models for m in base_methods]
    os.makedirs(args.work, exist_ok=True)
    args.manifest = os.path.abspath(args.manifest)

    labels = read_labels(args.labels)
    fields = list(labels[0].keys())
    fronts = front_paths(args.manifest)
    rng = np.random.default_rng(args.seed)
    fold = rng.permutation(len(labels)) % args.folds
    right = {p: {m: [] for m in methods} for p in PROXIES}
    for k in range(args.folds):
        d = os.path.join(args.work, "fold%d" % k)
        os.makedirs(d, exist_ok=True)
        train_csv = os.path.join(d, "labels.csv")
        with open(train_csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(r for r, g in zip(labels, fold) if g != k)
        heads = os.path.join(d, "heads")
        for model in models:
            train(args, train_csv, heads, model)
        held = [r for r, g in zip(labels, fold) if g == k]
        for p in PROXIES:
            t = draw_triplets(held, p, args.per_query, rng)
            tc = os.path.join(d, "triplets_%s.csv" % p)
            write_triplets(tc, t, fronts)
            for model in models:
                j = evaluate(args, tc, heads, base_methods, model)
                for m in base_methods:
                    right[p][named(m, model)] += right_vector(j, m)
        print("fold %d: %d held-out houses" % (k, len(held)), file=sys.stderr)

    print("Cross-validated proxies: %d folds by house over %d labeled houses, %d triplets a query "
          "house, seed %d, shrinkage %g%s\n" % (args.folds, len(labels), args.per_query, args.seed,
                                                args.shrinkage,
                                                ", final weights " + args.final_weights
                                                if args.final_weights else ""))
    for p in PROXIES:
        table("proxy %s" % p, right[p], methods, args.baseline)

    if args.dev:
        heads = os.path.join(args.work, "all", "heads")
        for model in models:
            train(args, args.labels, heads, model)
        labeled = {r["house_id"] for r in labels}
        dev_dir = os.path.dirname(os.path.abspath(args.dev))
        with open(args.dev, newline="") as f:
            rows = list(csv.DictReader(f))

        def house(p):
            return os.path.basename(p).split("_")[0]
        held = [r for r in rows if not any(house(r[c]) in labeled
                                           for c in ("query", "positive", "negative"))]
        held_csv = os.path.join(args.work, "all", "dev_held_out.csv")
        with open(held_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["query", "positive", "negative"])
            for r in held:
                w.writerow([os.path.join(dev_dir, r[c]) for c in ("query", "positive", "negative")])
        for title, path in (("dev triplets, all %d (caveat: the heads and the projection trained "
                             "on most of their houses)" % len(rows), args.dev),
                            ("dev triplets whose houses are all held out (%d)" % len(held),
                             held_csv)):
            dev_right = {}
            for model in models:
                j = evaluate(args, path, heads, base_methods, model)
                dev_right.update({named(m, model): right_vector(j, m) for m in base_methods})
            table(title, dev_right, methods, args.baseline)


if __name__ == "__main__":
    main()
