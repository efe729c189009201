"""One rank of the multi-process Hugging Face Trainer checks of tests/test_torch_hf_ddp.py.

``python tests/_torch_hf_ddp_worker.py RANK WORLD PORT OUT.json`` sets the variables
``torchrun`` would set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1,
MASTER_PORT), then for every case of :data:`CASES` trains a tiny randomly initialised
``BertForSequenceClassification`` (multi-label) with ``transformers.Trainer`` and
``compute_loss_func=VLAP.torch.hf.loss_for_trainer("sigmoidF1")`` for ONE optimizer
step (plain SGD, constant learning rate, no clipping, no dropout, sequential sampling)
and writes, per case, the parameters after the step and the rows this rank saw in
each micro-batch to OUT.json.

The Trainer (accelerate) shards the sequential batches round-robin: with
``per_device_train_batch_size=4`` rank 0 gets rows 0-3, rank 1 rows 4-7, then (second
micro-batch of an accumulated step) rank 0 rows 8-11, rank 1 rows 12-15.
``even_batches=False`` lets the last batch be short instead of padded with repeated rows.

:func:`reference` is the single-process update by hand (no Trainer): one SGD step on
``sum_m (rows_m / rows) * SigmoidF1(micro-batch m of the global batch)``.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOCAB, SEQ, LABELS, LR = 50, 6, 5, 0.1

# name -> (rows in the training set, per-device batch, gradient accumulation steps,
#          even_batches, the rows each rank sees per micro-batch on 2 ranks, options:
#          "loss" and its "kwargs" (default sigmoidF1), "average_tokens_across_devices")
CASES = {
    "even": (8, 4, 1, True, [[[0, 1, 2, 3]], [[4, 5, 6, 7]]], {}),
    "uneven": (7, 4, 1, False, [[[0, 1, 2, 3]], [[4, 5, 6]]], {}),
    # the Trainer's default (even_batches=True): accelerate fills rank 1's short batch
    # with rows from the start, so the global batch has row 0 twice
    "uneven_padded": (7, 4, 1, True, [[[0, 1, 2, 3]], [[4, 5, 6, 0]]], {}),
    "accumulate": (16, 4, 2, True, [[[0, 1, 2, 3], [8, 9, 10, 11]],
                                    [[4, 5, 6, 7], [12, 13, 14, 15]]], {}),
    "accumulate_uneven": (14, 4, 2, False, [[[0, 1, 2, 3], [8, 9, 10, 11]],
                                            [[4, 5, 6, 7], [12, 13]]], {}),
    # TrainingArguments(average_tokens_across_devices=False): no x world_size to undo
    "no_token_average": (14, 4, 2, False, [[[0, 1, 2, 3], [8, 9, 10, 11]],
                                           [[4, 5, 6, 7], [12, 13]]],
                         {"average_tokens_across_devices": False}),
    # an element-wise loss (each rank's local mean) and WeightedSum (counts and
    # BCE sums synced): the mean over micro-batches is their mean over all rows
    "bce_accumulate_uneven": (14, 4, 2, False, [[[0, 1, 2, 3], [8, 9, 10, 11]],
                                                [[4, 5, 6, 7], [12, 13]]], {"loss": "bce"}),
    "weighted_sum_accumulate_uneven": (
        14, 4, 2, False, [[[0, 1, 2, 3], [8, 9, 10, 11]], [[4, 5, 6, 7], [12, 13]]],
        {"loss": "weighted_sum", "kwargs": {"weight": 0.5}}),
}


def make_model():
    import transformers

    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, num_labels=LABELS,
        problem_type="multi_label_classification")
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config)


def rows(n):
    """``n`` training rows; row i's first token is ``i + 2`` so a rank can say which it saw."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, VOCAB, (n, SEQ), generator=g)
    ids[:, 0] = torch.arange(n) + 2
    labels = (torch.rand(n, LABELS, generator=g) < 0.4).float()
    labels[:, 0] = torch.arange(n) % 2  # no all-zero column
    return [{"input_ids": ids[i], "attention_mask": torch.ones(SEQ, dtype=torch.long),
             "labels": labels[i]} for i in range(n)]


def flat_params(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).tolist()


def reference(name):
    """The single-process update: one SGD step (lr ``LR``) on the example-weighted mean
    over micro-batches m of the case's loss (default sigmoidF1) of the global micro-batch m
    (the rows of all ranks at that micro-step, concatenated). Returns the parameters
    and that mean."""
    from VLAP.torch import hf

    n, _, accumulate, _, seen, options = CASES[name]
    data = rows(n)
    model = make_model()
    model.train()
    loss_fn = hf.get_loss(options.get("loss", "sigmoidF1"), **options.get("kwargs", {}))
    count = sum(len(micro) for rank in seen for micro in rank)
    total = 0.0
    for m in range(accumulate):
        idx = [i for rank in seen for i in rank[m]]
        ids = torch.stack([data[i]["input_ids"] for i in idx])
        mask = torch.stack([data[i]["attention_mask"] for i in idx])
        y = torch.stack([data[i]["labels"] for i in idx])
        logits = model(input_ids=ids, attention_mask=mask).logits
        total = total + len(idx) / count * loss_fn(logits, y)
    total.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= LR * p.grad
    return flat_params(model), float(total.detach())


def train(name, folder):
    """One optimizer step of ``transformers.Trainer`` on case ``name``; returns the
    parameters, the rows this process saw per micro-batch and the training loss the
    Trainer reports."""
    import transformers

    from VLAP.torch import hf

    n, batch, accumulate, even, _, options = CASES[name]
    average = options.get("average_tokens_across_devices", True)
    loss_fn = hf.loss_for_trainer(options.get("loss", "sigmoidF1"),
                                  average_tokens_across_devices=average,
                                  **options.get("kwargs", {}))
    seen = []  # the rows of each forward pass (micro-batch)
    model = make_model()
    model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append((kwargs["input_ids"][:, 0] - 2).tolist()),
        with_kwargs=True)
    args = transformers.TrainingArguments(
        output_dir=folder, max_steps=1, per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulate, optim="sgd", learning_rate=LR,
        weight_decay=0.0, lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=0.0,
        train_sampling_strategy="sequential", accelerator_config={"even_batches": even},
        average_tokens_across_devices=average, use_cpu=True, ddp_backend="gloo", seed=0,
        report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows(n),
                                   compute_loss_func=loss_fn)
    output = trainer.train()
    return flat_params(trainer.model), seen, output.training_loss


def main(rank, world, port, out):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in CASES:
            results[name] = train(name, folder)
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
