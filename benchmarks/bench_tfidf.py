"""TF-IDF featurisation as ``vlap run`` prepares it, against scikit-learn's sparse TF-IDF.

The texts: the arXiv sample's abstracts (``summaries``), repeated ``--repeat``
times, split 60/20/20 in order into train/val/test. Three ways to featurise the
three splits, timed in turns (one each per round, so machine noise hits them
alike), ``--rounds`` rounds, median seconds printed:

- ``sklearn``: scikit-learn's ``TfidfVectorizer`` (the featuriser's settings:
  5,000 terms, sublinear tf, English stop words, float32), ``fit_transform`` on
  train and ``transform`` on val and test, all sparse: the anchor;
- ``vlap``: what ``VLAP.experiments.prepare._featurize`` does now
  (``TfidfFeaturizer.fit_transform(train, sparse=True)``, ``transform(...,
  sparse=True)``): one pass, kept sparse until the model takes a split;
- ``dense``: the same, densified at preparation (``sparse=False``, the
  preparation before issue 29 item 4).

Then, outside the clock, the memory each leaves held (the three splits'
buffers) and the peak traced by ``tracemalloc`` while featurising, and whether
the numbers are identical (``np.array_equal`` of the densified splits).

Usage: python benchmarks/bench_tfidf.py [--repeat 5] [--rounds 7]
"""

import argparse
import csv
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from VLAP.datasets import data_dir  # noqa: E402
from VLAP.features import TfidfFeaturizer  # noqa: E402


def load_texts(repeat):
    csv.field_size_limit(1 << 24)
    path = data_dir() / "arxiv" / "arxiv_abstracts_sample.csv"
    with open(path, newline="", encoding="utf-8") as f:
        texts = [row["summaries"] for row in csv.DictReader(f)]
    texts = texts * repeat
    a, b = int(0.6 * len(texts)), int(0.8 * len(texts))
    return texts[:a], texts[a:b], texts[b:]


def sklearn_sparse(train, val, test):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(max_features=5000, sublinear_tf=True, stop_words="english",
                          dtype=np.float32)
    return vec.fit_transform(train), vec.transform(val), vec.transform(test)


def vlap(train, val, test, sparse=True):
    f = TfidfFeaturizer()
    return (f.fit_transform(train, sparse=sparse), f.transform(val, sparse=sparse),
            f.transform(test, sparse=sparse))


WAYS = {"sklearn": sklearn_sparse, "vlap": vlap,
        "dense": lambda *s: vlap(*s, sparse=False)}


def held_bytes(splits):
    def size(x):
        if hasattr(x, "indptr"):
            return x.data.nbytes + x.indices.nbytes + x.indptr.nbytes
        return x.nbytes
    return sum(size(x) for x in splits)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    train, val, test = load_texts(args.repeat)
    print(f"{len(train)}/{len(val)}/{len(test)} texts (arXiv sample x{args.repeat}); "
          f"{platform.node()}, {platform.processor() or platform.machine()}, "
          f"{args.rounds} rounds in turns")
    for way in WAYS.values():  # warm-up: imports, stop-word list
        way(train[:50], val[:10], test[:10])
    seconds = {name: [] for name in WAYS}
    for _ in range(args.rounds):
        for name, way in WAYS.items():
            t0 = time.perf_counter()
            way(train, val, test)
            seconds[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(s) for name, s in seconds.items()}
    for name in WAYS:
        print(f"{name:8s} median {med[name]:7.3f} s  (min {min(seconds[name]):.3f}, "
              f"max {max(seconds[name]):.3f}); / sklearn {med[name] / med['sklearn']:.2f}x")
    outputs = {}
    for name, way in WAYS.items():
        tracemalloc.start()
        outputs[name] = way(train, val, test)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{name:8s} splits held {held_bytes(outputs[name]) / 2**20:7.1f} MiB, "
              f"peak traced {peak / 2**20:7.1f} MiB")
    same = all(np.array_equal(a.toarray(), b.toarray()) and np.array_equal(b.toarray(), c)
               for a, b, c in zip(outputs["sklearn"], outputs["vlap"], outputs["dense"]))
    print(f"identical features (sklearn, vlap sparse, dense): {same}")


if __name__ == "__main__":
    main()
