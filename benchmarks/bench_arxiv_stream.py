"""Throughput and peak memory of VLAP.datasets.iter_arxiv_snapshot on a generated >= 1 GB file.

Writes a synthetic Kaggle-style arXiv metadata snapshot (JSON lines with id,
submitter, authors, title, comments, journal-ref, doi, categories, abstract,
versions, update_date) to a temporary folder, streams it in a child process
with several filters, prints MB/s and the child's peak RSS, and deletes the
file. The file was just written, so it is read from the page cache: the numbers
measure the parser, not the disk.

Usage: python benchmarks/bench_arxiv_stream.py [--size-gb 1.0]
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

_CATEGORIES = ["cs.LG stat.ML", "cs.CV", "math.AP", "hep-th", "cond-mat.str-el", "astro-ph.GA",
               "quant-ph", "math.PR math.ST", "cs.CL cs.AI", "physics.optics", "q-bio.NC", "econ.EM"]
_WORDS = ("model data learning we propose method results network graph energy quantum field "
          "theory show paper approach algorithm boundary spectral equation optimal").split()


def _line(rng, i):
    year = rng.randint(2007, 2023)
    abstract = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(80, 260)))
    record = {
        "id": f"{year % 100:02d}{rng.randint(1, 12):02d}.{i:05d}",
        "submitter": "A. Author",
        "authors": "A. Author, B. Author and C. Author",
        "title": " ".join(rng.choice(_WORDS) for _ in range(10)),
        "comments": "12 pages, 3 figures",
        "journal-ref": None,
        "doi": None,
        "report-no": None,
        "categories": rng.choice(_CATEGORIES),
        "license": None,
        "abstract": "  " + abstract + "\n",
        "versions": [{"version": "v1", "created": f"Mon, 2 Apr {year} 19:18:42 GMT"}],
        "update_date": f"{year}-05-01",
        "authors_parsed": [["Author", "A.", ""], ["Author", "B.", ""]],
    }
    return (json.dumps(record) + "\n").encode()


def generate(path, size_bytes):
    rng = random.Random(0)
    pool = [_line(rng, i) for i in range(5000)]
    written, i = 0, 0
    with open(path, "wb") as handle:
        while written < size_bytes:
            chunk = b"".join(pool[(i + k) % len(pool)] for k in range(1000))
            handle.write(chunk)
            written += len(chunk)
            i += 1000
    return written


def child(path, mode):
    from VLAP.datasets import LoadReport, iter_arxiv_snapshot

    kwargs = {
        "no filter": {},
        "cs. prefix": {"category_prefixes": ["cs."]},
        "cs.+stat.ML prefix, years 2019-2021": {"category_prefixes": ["cs.", "stat.ML"],
                                                  "years": [2019, 2020, 2021]},
        "rare prefix (q-bio)": {"category_prefixes": ["q-bio."]},
    }[mode]
    report = LoadReport()
    start = time.perf_counter()
    kept = sum(1 for _ in iter_arxiv_snapshot(path, report=report, **kwargs))
    elapsed = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = os.path.getsize(path) / 1e6
    print(json.dumps({"mode": mode, "kept": kept, "lines": report.n_read, "seconds": elapsed,
                      "mb_per_s": size_mb / elapsed, "peak_rss_mb": rss_mb}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "arxiv-metadata-oai-snapshot.json")
        start = time.perf_counter()
        size = generate(path, int(args.size_gb * 1e9))
        print(f"generated {size / 1e6:.0f} MB in {time.perf_counter() - start:.1f} s at {path}")
        for mode in ("no filter", "cs. prefix", "cs.+stat.ML prefix, years 2019-2021",
                     "rare prefix (q-bio)"):
            out = subprocess.run([sys.executable, __file__, "--child", path, mode],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['mode']:38s} kept {r['kept']:>8d} of {r['lines']} lines in "
                  f"{r['seconds']:6.2f} s: {r['mb_per_s']:7.1f} MB/s, peak RSS {r['peak_rss_mb']:.0f} MB",
                  flush=True)
    print("temporary file deleted")


if __name__ == "__main__":
    main()
