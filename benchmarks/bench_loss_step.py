"""Cost of a sigmoidF1 training step relative to a BCE step.

Times ``model.train_on_batch`` (compiled, after warm-up) for the same MLP with each
loss, interleaving the losses round by round so machine noise hits both alike, and
prints the median step time per loss and the ratio to BCE.

    KERAS_BACKEND=tensorflow python benchmarks/bench_loss_step.py
    python benchmarks/bench_loss_step.py --all-backends   # one subprocess per backend

``--torch`` times the native ``VLAP.torch`` losses instead (no Keras), side by side
with ``torch.nn.BCEWithLogitsLoss``, default checks on (``validate_args=True``), in
one process, eager and under ``torch.compile``:

* the loss alone, forward + backward, at ``--torch-batch`` x ``--torch-labels``
  (1024 x 1000);
* a loss-dominated training step: one ``Linear(64, labels)`` layer and Adam on the
  same shape (the loss's share of the step is largest there);
* a DistilBERT-head step: the classification head of DistilBERT (``Linear(768,
  768)``, ReLU, ``Linear(768, 90)``) on a batch of 32 pooled 768-d features, without
  the transformer body (a whole DistilBERT step is seconds on a CPU; the head alone
  is the upper bound of the loss's share).

    python benchmarks/bench_loss_step.py --torch [--no-compile]
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


def _median_times(fns, args):
    """Median seconds per call of each zero-argument callable, interleaved round by round."""
    for fn in fns.values():
        for _ in range(3):
            fn()  # warm-up (and compilation)
    times = {name: [] for name in fns}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            times[name].append((time.perf_counter() - t0) / args.steps)
    return {name: statistics.median(t) for name, t in times.items()}


def run_torch(args):
    import platform

    import torch

    import VLAP.torch as vt

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch, labels = args.torch_batch, args.torch_labels
    y = (torch.rand(batch, labels) < 0.05).float()
    logits = torch.randn(batch, labels)
    losses = {"BCEWithLogitsLoss": torch.nn.BCEWithLogitsLoss(),
              "VLAP SigmoidF1": vt.SigmoidF1(),
              "VLAP SigmoidF1 (validate_args=False)": vt.SigmoidF1(validate_args=False)}
    modes = ["eager"] + ([] if args.no_compile else ["compiled"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}; rounds={args.rounds} "
          f"calls/round={args.steps}; medians, ratio to BCEWithLogitsLoss in the same mode")

    def report(title, med):
        print(title)
        base = next(iter(med.values()))
        for name, t in med.items():
            print(f"  {name:40s} {1e3 * t:9.3f} ms   ratio {t / base:.3f}")

    def compiled(module):
        return torch.compile(module, dynamic=False)

    for mode in modes:
        fns = {name: (compiled(m) if mode == "compiled" else m) for name, m in losses.items()}

        def alone(loss):
            def call():
                x = logits.detach().requires_grad_()
                loss(x, y).backward()
            return call

        report(f"loss alone, forward + backward, {batch} x {labels}, {mode}",
               _median_times({n: alone(f) for n, f in fns.items()}, args))

        def step_of(loss, make_model, x, target):
            torch.manual_seed(0)
            model = make_model()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)

            def call():
                opt.zero_grad(set_to_none=True)
                loss(model(x), target).backward()
                opt.step()
            return call

        x = torch.randn(batch, 64)
        report(f"loss-dominated step: Linear(64, {labels}) + Adam, batch {batch}, {mode}",
               _median_times({n: step_of(f, lambda: torch.nn.Linear(64, labels), x, y)
                              for n, f in fns.items()}, args))
        head_x = torch.randn(32, 768)
        head_y = (torch.rand(32, 90) < 0.05).float()

        def head():
            return torch.nn.Sequential(torch.nn.Linear(768, 768), torch.nn.ReLU(),
                                       torch.nn.Linear(768, 90))
        # the head's own (32, 90) shape: separate compiled modules
        head_fns = {name: (compiled(m) if mode == "compiled" else m)
                    for name, m in losses.items()}
        report(f"DistilBERT-head step: Linear(768, 768), ReLU, Linear(768, 90) + Adam, "
               f"batch 32, {mode}",
               _median_times({n: step_of(f, head, head_x, head_y)
                              for n, f in head_fns.items()}, args))


def run_distilbert(args):
    """A whole DistilBERT fine-tuning step (transformers' DistilBertForSequenceClassification
    from its default config, random weights: nothing downloads) with each loss on its logits,
    eager, losses interleaved round by round: the step the issue's "DistilBERT-head step"
    target is about, where the loss is a few ops beside the transformer body."""
    import platform

    import torch
    import transformers

    import VLAP.torch as vt

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch, length, labels = args.distilbert_batch, args.distilbert_length, 90
    config = transformers.DistilBertConfig(num_labels=labels,
                                           problem_type="multi_label_classification")
    model = transformers.DistilBertForSequenceClassification(config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    ids = torch.randint(0, config.vocab_size, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    y = (torch.rand(batch, labels) < 0.05).float()
    losses = {"BCEWithLogitsLoss": torch.nn.BCEWithLogitsLoss(), "VLAP SigmoidF1": vt.SigmoidF1()}

    def step_of(loss):
        def call():
            opt.zero_grad(set_to_none=True)
            loss(model(input_ids=ids, attention_mask=mask).logits, y).backward()
            opt.step()
        return call

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"DistilBERT step, batch {batch} x {length} tokens, {labels} labels, eager; "
          f"rounds={args.rounds} steps/round={args.steps}; medians")
    med = _median_times({n: step_of(f) for n, f in losses.items()}, args)
    base = next(iter(med.values()))
    for name, t in med.items():
        print(f"  {name:40s} {1e3 * t:9.1f} ms   ratio {t / base:.3f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--features", type=int, default=512)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--all-backends", action="store_true")
    p.add_argument("--torch", action="store_true", help="time VLAP.torch against "
                   "torch.nn.BCEWithLogitsLoss (no Keras)")
    p.add_argument("--torch-batch", type=int, default=1024)
    p.add_argument("--torch-labels", type=int, default=1000)
    p.add_argument("--no-compile", action="store_true", help="--torch: eager only")
    p.add_argument("--distilbert", action="store_true", help="a whole DistilBERT step "
                   "(transformers, random weights) with BCE and VLAP.torch sigmoidF1")
    p.add_argument("--distilbert-batch", type=int, default=8)
    p.add_argument("--distilbert-length", type=int, default=128)
    p.add_argument("--threads", type=int, default=0, help="--torch: torch.set_num_threads "
                   "(0: torch's default)")
    args = p.parse_args()
    if args.distilbert:
        return run_distilbert(args)
    if args.torch:
        return run_torch(args)
    if not args.all_backends:
        return run(args)
    for backend in ("tensorflow", "torch", "jax"):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        argv = [a for a in sys.argv[1:] if a != "--all-backends"]
        subprocess.run([sys.executable, __file__, *argv], env=env, check=True)


if __name__ == "__main__":
    main()
