"""sigmoidF1 vs BCE training steps under DDP (2 CPU processes, gloo on loopback).

The model is DistilBERT's classification head on pooled 768-d features
(``Linear(768, 768) -> ReLU -> Linear(768, num_labels)``, as
``DistilBertForSequenceClassification`` has), so the step is what fine-tuning adds
on top of the backbone, where the loss's share is largest. Each rank times every
step (zero_grad, forward, loss, backward with DDP's gradient all-reduce, SGD step),
interleaving the losses round by round so machine noise hits them alike:

* ``bce``: ``VLAP.torch.BinaryCrossentropy`` (per-rank mean, no extra collective);
* ``sigmoid_f1``: ``VLAP.torch.SigmoidF1()``, global batch (``sync="auto"``: one
  all-reduce of 4 x num_labels soft counts);
* ``sigmoid_f1_local``: ``SigmoidF1(sync="local")``, the same without the all-reduce.

It also times the counts' all-reduce alone (``VLAP.torch.dist.sum_across_ranks`` on
the 4 x num_labels counts, after a barrier so that the ranks' skew is not counted). The all-reduce's share of a step is that time over the
median ``sigmoid_f1`` step; ``global - local`` over the step is printed beside it.

    nice -n 10 python benchmarks/bench_ddp.py                  # batch 32 and 64, 1000 labels
    python benchmarks/bench_ddp.py --batch 32 --labels 100 --rounds 50
    python benchmarks/bench_ddp.py --model distilbert --seq 128 --batch 16 --rounds 3 --steps 2

``--model distilbert`` times the whole fine-tuning step instead: a randomly
initialised ``DistilBertForSequenceClassification`` (DistilBERT-base sizes, from a
``DistilBertConfig``: nothing is downloaded; needs ``transformers``) on random token
ids of length ``--seq``, the head's logits going to the same losses.
"""

import argparse
import datetime
import os
import socket
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import VLAP.torch as vt  # noqa: E402
from VLAP.torch.dist import sum_across_ranks  # noqa: E402

LOSSES = {
    "bce": lambda: vt.BinaryCrossentropy(),
    "sigmoid_f1": lambda: vt.SigmoidF1(),
    "sigmoid_f1_local": lambda: vt.SigmoidF1(sync="local"),
}


def head(labels, hidden=768):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, labels))


class _DistilBert(torch.nn.Module):
    """DistilBERT-base with a classification head, random weights, logits out."""

    def __init__(self, labels):
        super().__init__()
        from transformers import DistilBertConfig, DistilBertForSequenceClassification

        torch.manual_seed(0)
        config = DistilBertConfig(num_labels=labels, dropout=0.0, attention_dropout=0.0,
                                  seq_classif_dropout=0.0,
                                  problem_type="multi_label_classification")
        self.net = DistilBertForSequenceClassification(config)

    def forward(self, ids):
        return self.net(input_ids=ids).logits


def _median_ms(values):
    return 1000.0 * statistics.median(values)


def worker(rank, world, port, args, queue):
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=120))
    try:
        rows = []
        for batch in args.batch:
            g = torch.Generator().manual_seed(rank)
            if args.model == "distilbert":
                x = torch.randint(0, 30522, (batch, args.seq), generator=g)
            else:
                x = torch.randn(batch, 768, generator=g)
            y = (torch.rand(batch, args.labels, generator=g) < 0.05).float()
            setups = {}
            for name, make in LOSSES.items():
                net = _DistilBert(args.labels) if args.model == "distilbert" else head(args.labels)
                model = torch.nn.parallel.DistributedDataParallel(net)
                setups[name] = (model, torch.optim.SGD(model.parameters(), lr=1e-3),
                                make())
            times = {name: [] for name in LOSSES}

            def step(name):
                model, opt, loss_fn = setups[name]
                start = time.perf_counter()
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                return time.perf_counter() - start

            for name in LOSSES:  # warm-up
                for _ in range(3):
                    step(name)
            for _ in range(args.rounds):
                for name in LOSSES:
                    for _ in range(args.steps):
                        times[name].append(step(name))
            counts = [torch.rand(args.labels) for _ in range(4)]
            reduce_times = []
            for _ in range(args.rounds * args.steps):
                dist.barrier()  # both ranks start together: time the collective, not the skew
                start = time.perf_counter()
                sum_across_ranks(counts)
                reduce_times.append(time.perf_counter() - start)
            rows.append((batch, {k: _median_ms(v) for k, v in times.items()},
                         _median_ms(reduce_times)))
        if rank == 0:
            queue.put(rows)
    finally:
        dist.destroy_process_group()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 64],
                        help="rows per rank (default: 32 64)")
    parser.add_argument("--labels", type=int, default=1000,
                        help="num_labels of the head (default 1000)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5, help="steps per loss per round")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--model", choices=("head", "distilbert"), default="head",
                        help="the classification head alone (default) or the whole "
                             "DistilBERT-base model")
    parser.add_argument("--seq", type=int, default=128, help="tokens per text (distilbert)")
    args = parser.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(worker, args=(2, port, args, queue), nprocs=2, join=True,
                       start_method="spawn")
    rows = queue.get()
    what = (f"DistilBERT-base + head -> {args.labels}, {args.seq} tokens"
            if args.model == "distilbert" else f"DistilBERT head 768 -> 768 -> {args.labels}")
    print(f"DDP, 2 processes (gloo), {what}, "
          f"{args.threads} thread(s) per rank, median of {args.rounds * args.steps} "
          f"steps per loss, torch {torch.__version__}")
    print(f"{'batch/rank':>10} {'BCE ms':>8} {'sigmoidF1 ms':>13} {'ratio':>6} "
          f"{'local ms':>9} {'all-reduce ms':>14} {'share':>6} {'(global-local)/step':>20}")
    for batch, t, reduce_ms in rows:
        print(f"{batch:>10} {t['bce']:>8.3f} {t['sigmoid_f1']:>13.3f} "
              f"{t['sigmoid_f1'] / t['bce']:>6.3f} {t['sigmoid_f1_local']:>9.3f} "
              f"{reduce_ms:>14.4f} {reduce_ms / t['sigmoid_f1']:>6.1%} "
              f"{(t['sigmoid_f1'] - t['sigmoid_f1_local']) / t['sigmoid_f1']:>20.1%}")


if __name__ == "__main__":
    main()
