"""One rank of the DDP checks of tests/test_torch_ddp.py (and the reference run).

``python tests/_torch_ddp_worker.py RANK WORLD PORT OUT.json`` joins a gloo process
group on 127.0.0.1:PORT, then for every case of :data:`CASES` trains a fresh
``Linear(16, 5)`` wrapped in ``DistributedDataParallel`` for a few SGD steps on its
slice of fixed global batches (the slices are uneven: 7 + 6 rows, then 5 + 8, ...)
and writes the parameters and loss values to OUT.json. :func:`run_case` with
``world=1`` is the single-process reference on the concatenated batches.
"""

import datetime
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import VLAP.torch as vt  # noqa: E402

IN, OUT = 16, 5
# rows of each global batch on rank 0 and rank 1 (uneven, as a last batch may be)
SPLITS = [(7, 6), (5, 8), (9, 4)]


def _scheduled():
    loss = vt.Scheduled(start_epoch=0, ramp_epochs=2)
    loss.set_epoch(1)  # mix 0.5: both terms count
    return loss


# name -> (make the loss, number of steps, sample weights: None, "rows" or "entries")
CASES = {
    "sigmoid_f1": (lambda: vt.SigmoidF1(beta=2.0, eta=0.3), 1, None),
    "sigmoid_f1_micro": (lambda: vt.SigmoidF1(average="micro"), 1, None),
    # sync="global" explicitly (its single-process reference is "sigmoid_f1")
    "sigmoid_f1_global": (lambda: vt.SigmoidF1(beta=2.0, eta=0.3, sync="global"), 1, None),
    "unbounded_f1": (lambda: vt.UnboundedF1(), 1, None),
    "f2": (lambda: vt.SoftScoreLoss("fbeta", f_beta=2.0), 1, None),
    "precision": (lambda: vt.SoftScoreLoss("precision"), 1, None),
    "recall": (lambda: vt.SoftScoreLoss("recall"), 1, None),
    "jaccard": (lambda: vt.SoftScoreLoss("jaccard"), 1, None),
    "mcc": (lambda: vt.SoftScoreLoss("mcc"), 1, None),
    "sigmoid_f1_row_weights": (lambda: vt.SigmoidF1(), 1, "rows"),
    "weighted_sum_bce": (lambda: vt.WeightedSum(weight=0.5), 1, None),
    "weighted_sum_asl_row_weights": (
        lambda: vt.WeightedSum(baseline="asl", weight=0.3), 1, "rows"),
    "weighted_sum_bce_entry_weights": (lambda: vt.WeightedSum(weight=1.0), 1, "entries"),
    "weighted_sum_label_count": (
        lambda: vt.WeightedSum(baseline="label_count_error", weight=0.2), 1, "entries"),
    "scheduled": (_scheduled, 1, None),
    "ema_sigmoid_f1": (lambda: vt.EMASigmoidF1(momentum=0.5), 3, None),
    # class-wise log-sum-exps over the global batch: shifts by the ranks' maximum
    "two_way": (lambda: vt.TwoWay(), 2, None),
    "two_way_entry_weights": (lambda: vt.TwoWay(t_pos=2.0, t_neg=0.5), 1, "entries"),
    "weighted_sum_two_way_zlpr": (
        lambda: vt.WeightedSum(surrogate="two_way", baseline="zlpr", weight=0.3), 1, "entries"),
    # the old per-rank behaviour: must NOT match the single process (the test's power)
    "sigmoid_f1_local": (lambda: vt.SigmoidF1(sync="local"), 1, None),
}


def global_batch(step):
    """The step's global batch: inputs, 0/1 labels, row weights, entry weights."""
    rows = sum(SPLITS[step])
    r = np.random.default_rng(100 + step)
    x = r.normal(size=(rows, IN)).astype("float32")
    y = (r.random((rows, OUT)) < 0.35).astype("float32")
    w_rows = r.choice([0.5, 1.0, 2.0], size=rows).astype("float32")
    w_entries = r.choice([0.0, 1.0, 2.0], size=(rows, OUT)).astype("float32")
    return [torch.tensor(a) for a in (x, y, w_rows, w_entries)]


def run_case(name, rank=0, world=1):
    """Train the case's model; returns (flat parameters, loss values) as lists."""
    make_loss, steps, weights = CASES[name]
    torch.manual_seed(0)
    model = torch.nn.Linear(IN, OUT)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = make_loss()
    losses = []
    for step in range(steps):
        x, y, w_rows, w_entries = global_batch(step)
        if world > 1:
            lo = sum(SPLITS[step][:rank])
            part = slice(lo, lo + SPLITS[step][rank])
            x, y, w_rows, w_entries = x[part], y[part], w_rows[part], w_entries[part]
        w = {None: None, "rows": w_rows, "entries": w_entries}[weights]
        opt.zero_grad()
        loss = loss_fn(net(x), y, sample_weight=w)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    params = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return params.tolist(), losses


def main(rank, world, port, out):
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=datetime.timedelta(seconds=60))
    try:
        results = {name: run_case(name, rank, world) for name in CASES}
        # evaluation under no_grad with sync="auto" stays local: rank 0 alone may call it
        if rank == 0:
            with torch.no_grad():
                x, y, *_ = global_batch(0)
                results["no_grad_local"] = float(vt.SigmoidF1()(x[:, :OUT], y))
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
