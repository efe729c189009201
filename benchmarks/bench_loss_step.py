"""Cost of a sigmoidF1 training step relative to a BCE step.

Times ``model.train_on_batch`` (compiled, after warm-up) for the same MLP with each
loss, interleaving the losses round by round so machine noise hits both alike, and
prints the median step time per loss and the ratio to BCE.

    KERAS_BACKEND=tensorflow python benchmarks/bench_loss_step.py
    python benchmarks/bench_loss_step.py --all-backends   # one subprocess per backend
"""

import argparse
import os
import statistics
import subprocess
import sys
import time


def run(args):
    import keras
    import numpy as np

    from VLAP import losses

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.features)).astype("float32")
    y = (rng.random((args.batch, args.labels)) < 0.05).astype("float32")
    names = ["binary_crossentropy", "sigmoid_f1", "unbounded_f1", "focal", "asymmetric"]
    models = {}
    for name in names:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((args.features,)),
                                  keras.layers.Dense(args.hidden, activation="relu"),
                                  keras.layers.Dense(args.labels)])
        model.compile(optimizer="adam", loss=losses.get(name))
        for _ in range(3):
            model.train_on_batch(x, y)  # warm-up / compile
        models[name] = model
    times = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, model in models.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - t0) / args.steps)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"backend={keras.config.backend()} batch={args.batch} features={args.features} "
          f"hidden={args.hidden} labels={args.labels} rounds={args.rounds} steps/round={args.steps}")
    for name in names:
        print(f"  {name:20s} median step {1e3 * med[name]:8.3f} ms   "
              f"ratio to BCE {med[name] / med['binary_crossentropy']:.3f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--all-backends", action="store_true")
    args = p.parse_args()
    if not args.all_backends:
        return run(args)
    for backend in ("tensorflow", "torch", "jax"):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        argv = [a for a in sys.argv[1:] if a != "--all-backends"]
        subprocess.run([sys.executable, __file__, *argv], env=env, check=True)


if __name__ == "__main__":
    main()
