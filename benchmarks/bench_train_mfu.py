"""Training throughput and model FLOP utilisation (MFU) of a DistilBERT-sized classifier.

Builds ``VLAP.models.text_classifier(config=...)`` (random init, DistilBERT-base
shape by default: 6 layers, hidden 768, 12 heads, FFN 3072, vocabulary 30,522),
compiles it with ``VLAP.training.compile_for_multilabel`` (sigmoidF1, Adam) and
times ``train_on_batch`` on random tokens after warm-up steps.

FLOPs are counted analytically (PaLM, Chowdhery et al. 2022, appendix B), per
training step::

    tokens = batch * seq
    N      = layers * (4 d^2 + 2 d f) + d * head_units + head_units * labels
    FLOPs  = 6 * N * tokens + 12 * layers * seq * d * tokens

``6 N`` per token is the forward (2 N) and backward (4 N) matmuls of the
parameters that multiply activations (embeddings are lookups and are left out);
``12 * layers * seq * d`` per token is attention's ``Q K^T`` and ``A V`` (forward
and backward). MFU = FLOPs per second / ``--peak-tflops`` (e.g. 989 for the
H200's dense bf16 peak; none is known for a CPU, so MFU is left out without it).

    KERAS_BACKEND=jax python benchmarks/bench_train_mfu.py --dtype mixed_bfloat16 --peak-tflops 989
    python benchmarks/bench_train_mfu.py --tiny --all-backends     # torch and jax, subprocesses
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

FULL = dict(vocabulary_size=30522, num_layers=6, num_heads=12, hidden_dim=768,
            intermediate_dim=3072, batch=32, seq=512, head_units=1024)
TINY = dict(vocabulary_size=1000, num_layers=2, num_heads=2, hidden_dim=64,
            intermediate_dim=128, batch=8, seq=64, head_units=64)


def flops_per_step(c, labels):
    """Training FLOPs of one step of the classifier described by ``c`` (see module doc)."""
    d, f, layers = c["hidden_dim"], c["intermediate_dim"], c["num_layers"]
    n_params = layers * (4 * d * d + 2 * d * f) + d * c["head_units"] + c["head_units"] * labels
    tokens = c["batch"] * c["seq"]
    return 6 * n_params * tokens + 12 * layers * c["seq"] * d * tokens, n_params


def run(args):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import keras
    import numpy as np

    import VLAP

    c = dict(TINY if args.tiny else FULL)
    for key in ("batch", "seq", "num_layers"):
        if getattr(args, key) is not None:
            c[key] = getattr(args, key)
    # a benchmark script may set the global policy; VLAP.train(dtype_policy=) does not
    keras.config.set_dtype_policy(args.dtype)
    keras.utils.set_random_seed(0)
    config = {k: c[k] for k in ("vocabulary_size", "num_layers", "num_heads", "hidden_dim",
                                "intermediate_dim")}
    model = VLAP.models.text_classifier(args.labels, config=config, head_units=c["head_units"],
                                        sequence_length=c["seq"], dropout=0.1)
    model = VLAP.training.compile_for_multilabel(model, "sigmoidF1", learning_rate=1e-4)
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, c["vocabulary_size"], (c["batch"], c["seq"])).astype("int32"),
         "padding_mask": np.ones((c["batch"], c["seq"]), "int32")}
    y = (rng.random((c["batch"], args.labels)) < 0.1).astype("float32")
    for _ in range(args.warmup):
        loss = model.train_on_batch(x, y)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = model.train_on_batch(x, y, return_dict=True)["loss"]
        float(loss)  # wait for the step
        times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    flops, n_params = flops_per_step(c, args.labels)
    achieved = flops / step
    mfu = f"{100 * achieved / (args.peak_tflops * 1e12):.1f}%" if args.peak_tflops else "n/a"
    peak = f"{args.peak_tflops} TFLOP/s" if args.peak_tflops else "not given"
    print(f"backend={keras.config.backend()} dtype={args.dtype} layers={c['num_layers']} "
          f"hidden={c['hidden_dim']} heads={c['num_heads']} ffn={c['intermediate_dim']} "
          f"batch={c['batch']} seq={c['seq']} labels={args.labels} N(matmul params)={n_params:,}")
    print(f"  median step {1e3 * step:.1f} ms over {args.steps} steps "
          f"(min {1e3 * min(times):.1f}, max {1e3 * max(times):.1f}); "
          f"{c['batch'] / step:.1f} examples/s; {c['batch'] * c['seq'] / step:,.0f} tokens/s")
    print(f"  {flops / 1e9:.2f} GFLOP/step -> {achieved / 1e12:.4f} TFLOP/s; "
          f"MFU {mfu} (peak: {peak}); "
          f"final loss {float(loss):.4f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a small model for CPU machines")
    parser.add_argument("--dtype", default="float32", help="dtype policy, e.g. mixed_bfloat16")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the accelerator's peak FLOP/s in TFLOP/s (H200 bf16 dense: 989)")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--seq", type=int, default=None)
    parser.add_argument("--num-layers", dest="num_layers", type=int, default=None)
    parser.add_argument("--labels", type=int, default=90)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--all-backends", action="store_true",
                        help="run on torch and jax, one subprocess each")
    args = parser.parse_args(argv)
    if not args.all_backends:
        return run(args)
    rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--all-backends"]
    for backend in ("torch", "jax"):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run([sys.executable, os.path.abspath(__file__), *rest], env=env, check=True)


if __name__ == "__main__":
    main()
