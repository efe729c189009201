"""End-to-end training throughput on the arXiv sample: paper README pipeline vs create_dataset.

Model: a DistilBERT-base-sized keras-hub backbone (6 layers, 12 heads, hidden 768,
intermediate 3072, vocabulary 30522, max length 512; random init) + a Dense head.
Tokenizer: a WordPiece vocabulary trained locally on the sample (no download).

(a) README pipeline: tokenizer(..., truncation=True, padding=True) on the whole
    training set (every row padded to the longest text), then
    from_tensor_slices -> shuffle -> batch; no trimming.
(b) VLAP.create_dataset on the same pre-padded arrays: each batch trimmed to its
    longest real row.
(c) as (b) with bucket_by_length=True.

Prints the median step time over a few steps after warm-up, examples/s, and the
padded tokens per epoch of each pipeline over the whole training set.

Usage: python benchmarks/bench_text_pipeline.py [--steps 5] [--batch-size 16]
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def build_tokenizer(texts, max_length):
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(lowercase=True)
    tok.train_from_iterator(texts, vocab_size=30522, min_frequency=1,
                            special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")  # pad to longest
    return tok


def build_model(num_labels):
    import keras
    import keras_hub

    backbone = keras_hub.models.DistilBertBackbone(
        vocabulary_size=30522, num_layers=6, num_heads=12, hidden_dim=768,
        intermediate_dim=3072, max_sequence_length=512,
    )
    inputs = {
        "input_ids": keras.Input((None,), dtype="int32", name="input_ids"),
        "attention_mask": keras.Input((None,), dtype="int32", name="attention_mask"),
    }
    hidden = backbone({"token_ids": inputs["input_ids"], "padding_mask": inputs["attention_mask"]})
    logits = keras.layers.Dense(num_labels)(hidden[:, 0, :])
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.Adam(1e-5),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def time_steps(model, ds, warmup, steps):
    times, widths = [], []
    for i, (x, y) in enumerate(ds.take(warmup + steps)):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed)
            widths.append(int(x["input_ids"].shape[1]))
    return statistics.median(times), widths


def padded_tokens(ds):
    return sum(int(np.prod(x["input_ids"].shape)) for x, _ in ds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=512)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    import VLAP
    from VLAP.datasets import load_arxiv_csv

    data = load_arxiv_csv()
    X_tr, X_va, X_te, y_tr, y_va, y_te = VLAP.split(data.texts, data.labels, r=44)
    Y_tr, _, _, names = VLAP.binarize(y_tr, y_va, y_te)
    tok = build_tokenizer(data.texts, args.max_length)
    enc = tok.encode_batch(X_tr)
    tokens = {"input_ids": np.array([e.ids for e in enc], dtype="int32"),
              "attention_mask": np.array([e.attention_mask for e in enc], dtype="int32")}
    real = tokens["attention_mask"].sum(1)
    print(f"keras {keras.__version__} backend {keras.backend.backend()}, tf {tf.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"train rows {len(X_tr)}, labels {len(names)}, vocab {tok.get_vocab_size()}, "
          f"padded width {tokens['input_ids'].shape[1]}, real length mean {real.mean():.0f} "
          f"median {np.median(real):.0f} max {real.max()}")

    bs = args.batch_size
    readme = (tf.data.Dataset.from_tensor_slices((tokens, Y_tr))
              .shuffle(len(Y_tr), seed=0).batch(bs).prefetch(tf.data.AUTOTUNE))
    ours = VLAP.create_dataset(tokens, Y_tr, batch_size=bs, seed=0)
    bucketed = VLAP.create_dataset(tokens, Y_tr, batch_size=bs, seed=0, bucket_by_length=True)
    pipelines = {"(a) README pad-to-longest": readme, "(b) create_dataset": ours,
                 "(c) create_dataset bucket_by_length": bucketed}

    base_tokens = padded_tokens(readme)
    for name, ds in pipelines.items():
        n = padded_tokens(ds)
        print(f"{name}: {n} padded tokens per epoch ({base_tokens / n:.2f}x fewer than (a))")

    model = build_model(len(names))
    results = {}
    for name, ds in pipelines.items():
        warmup = 1 if name.startswith("(a)") else 2  # two shapes let tf.function relax to None
        med, widths = time_steps(model, ds, warmup, args.steps)
        results[name] = med
        print(f"{name}: median step {med:.2f} s over {args.steps} steps (widths {widths}), "
              f"{bs / med:.2f} examples/s", flush=True)
    base = results["(a) README pad-to-longest"]
    for name, med in results.items():
        print(f"speed-up {name}: {base / med:.2f}x")


if __name__ == "__main__":
    main()
