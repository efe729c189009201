"""Image decoding cost: VLAP's one PIL decoder inside tf.data vs TensorFlow's own decoder.

create_dataset(is_image=True) decodes through `VLAP.data.images.load_images` (PIL,
bilinear resize; chunks of 16 files decoded on a thread pool) called with
`tf.numpy_function`, so a damaged file raises an error naming it and a file decodes
to the same pixels as `VLAP.data.load_images`. Before, the pipeline used
`tf.io.decode_image` + `tf.image.resize` (graph ops, errors without a file name).
This script times one pass over N small JPEGs (the shared movie posters, longest
side 128 px, when `$VLAP_DATA_DIR/posters` exists; otherwise synthetic JPEGs of
that size) with:

(a) tf.io: read_file -> decode_image -> resize (the previous pipeline), batch 32;
(b) VLAP: create_dataset(is_image=True, is_training=False), batch 32;
(c) VLAP: load_images (a thread pool, no tf.data);
and, for scale, one training epoch of `image_classifier("small_cnn")` fed by (a) and
by (b) (`--no-train` skips it).

Rounds alternate the pipelines so machine noise hits them alike; prints images/s
(best and median of the rounds).

Usage: python benchmarks/bench_image_decode.py [--n 500] [--size 64] [--rounds 5]
"""

import argparse
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def _poster_paths(n):
    from VLAP.datasets import data_dir

    folder = os.path.join(data_dir(), "posters", "images")
    if not os.path.isdir(folder):
        return None
    names = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))[:n]
    return [os.path.join(folder, f) for f in names] if len(names) == n else None


def _synthetic_paths(n, folder):
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, size=(12, 9, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((87, 128), Image.BILINEAR)
        path = os.path.join(folder, f"{i}.jpg")
        image.save(path, quality=90)
        paths.append(path)
    return paths


def _tf_io_pipeline(tf, paths, size, batch_size):
    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return tf.clip_by_value(tf.image.resize(tf.cast(image, tf.float32), (size, size)), 0.0, 255.0)

    ds = tf.data.Dataset.from_tensor_slices(paths).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-train", action="store_true")
    args = parser.parse_args()

    import tensorflow as tf

    from VLAP.data import create_dataset, load_images

    tmp = tempfile.TemporaryDirectory()
    paths = _poster_paths(args.n)
    source = "shared movie posters"
    if paths is None:
        paths = _synthetic_paths(args.n, tmp.name)
        source = "synthetic JPEGs 87x128"
    y = np.zeros((len(paths), 1), "float32")

    pipelines = {
        "(a) tf.io decode_image + resize": lambda: _tf_io_pipeline(tf, paths, args.size, args.batch_size),
        "(b) create_dataset (PIL via numpy_function)": lambda: create_dataset(
            paths, y, is_image=True, is_training=False, batch_size=args.batch_size, image_size=args.size),
        "(c) load_images (threads, no tf.data)": None,
    }
    times = {name: [] for name in pipelines}
    for _ in range(args.rounds):
        for name, make in pipelines.items():
            t0 = time.perf_counter()
            if make is None:
                load_images(paths, args.size)
            else:
                for _batch in make():
                    pass
            times[name].append(time.perf_counter() - t0)

    print(f"{len(paths)} images ({source}) -> {args.size}x{args.size}, batch {args.batch_size}, "
          f"{args.rounds} rounds; {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"TensorFlow {tf.__version__}")
    base = min(times["(a) tf.io decode_image + resize"])
    for name, ts in times.items():
        print(f"{name:46s} best {len(paths) / min(ts):8.0f} img/s   median "
              f"{len(paths) / statistics.median(ts):8.0f} img/s   ({min(ts) / base:.2f}x the time of (a))")
    if not args.no_train:
        _train_epochs(tf, paths, y, args, {
            "(a)": lambda: _tf_io_pipeline(tf, paths, args.size, args.batch_size).map(
                lambda x: (x, tf.zeros((tf.shape(x)[0], 1)))),
            "(b)": pipelines["(b) create_dataset (PIL via numpy_function)"],
        })
    tmp.cleanup()


def _train_epochs(tf, paths, y, args, make):
    import keras

    from VLAP.models import image_classifier

    model = image_classifier(1, backbone="small_cnn", image_size=args.size, head_units=64)
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(make["(a)"](), epochs=1, verbose=0)  # compile the step once
    times = {name: [] for name in make}
    for _ in range(max(1, args.rounds // 2)):
        for name, fn in make.items():
            t0 = time.perf_counter()
            model.fit(fn(), epochs=1, verbose=0)
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        print(f"training epoch on {name}: best {min(ts):.2f} s, median {statistics.median(ts):.2f} s "
              f"(small_cnn, {len(paths)} images)")


if __name__ == "__main__":
    main()
