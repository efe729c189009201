"""Cost of the loaders' image checks on the movie posters (7,242 JPEGs).

Prints the load time of `VLAP.datasets.load_posters` with `check_images`
= "exists" (the old default), True (the default: header + end-of-image marker)
and "decode" (a full decode). Needs the shared posters data.

    python benchmarks/bench_image_checks.py
"""

import time

from VLAP import datasets


def main():
    for mode in ("exists", True, "decode"):
        t0 = time.perf_counter()
        data = datasets.load_posters(check_images=mode, on_error="skip")
        seconds = time.perf_counter() - t0
        print(f"check_images={mode!r:9}: {len(data)} images kept, {data.report.n_skipped} "
              f"skipped, {seconds:.1f} s")


if __name__ == "__main__":
    main()
