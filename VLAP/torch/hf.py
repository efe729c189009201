"""VLAP's losses and evaluator in the Hugging Face ``transformers`` Trainer.

* :func:`loss_for_trainer` turns any VLAP.torch loss into a
  ``Trainer(compute_loss_func=...)``;
* :func:`metrics_for_trainer` (and the ready-made :data:`compute_metrics`) is a
  ``Trainer(compute_metrics=...)`` that reports :func:`VLAP.evaluation.evaluate_predictions`.

Use them with a sequence classifier built with
``problem_type="multi_label_classification"`` and float 0/1 ``labels`` of shape
``(batch, num_labels)``::

    model = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=n, problem_type="multi_label_classification")
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      compute_loss_func=VLAP.torch.hf.loss_for_trainer("sigmoidF1", beta=5.0),
                      compute_metrics=VLAP.torch.hf.compute_metrics)

:func:`offline_checkpoint` (from :mod:`VLAP.pretrained`) gives a checkpoint folder that
loads offline: the MiniLM-L6 of the ``text`` extra, or the folder you pass; without
either it stops at once, in one line naming the extra, instead of asking the Hub.

Importing this module imports neither ``transformers`` nor Keras; the metrics
use VLAP's framework-free evaluation (:mod:`VLAP.evaluation.report`, NumPy
only), so a PyTorch process never imports Keras or TensorFlow.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

import VLAP.torch as vt
from VLAP.ops import registry
from VLAP.pretrained import offline_checkpoint
from VLAP.torch.dist import is_synced, world_size

def __getattr__(name):
    if name == "LOSSES":  # read at each access: a loss registered later is in it too
        return {n: vt.module_class(n) for n in registry.names()}
    raise AttributeError(f"module 'VLAP.torch.hf' has no attribute {name!r}")


#: A VLAP.torch loss from any name of :mod:`VLAP.ops.registry` (the paper's,
#: snake_case, ``bce``/``asl``, a soft score ``fbeta``/``jaccard``/..., a class
#: name) with its options, or a module as given (:func:`VLAP.torch.get_loss`).
#: ``LOSSES`` maps every name to its module class.
get_loss = vt.get_loss


def _logits(outputs):
    if isinstance(outputs, dict) or hasattr(outputs, "keys"):
        if "logits" not in outputs:
            raise ValueError("The model's outputs have no 'logits'. Received keys: "
                             f"{sorted(outputs.keys())}")
        return outputs["logits"]
    if hasattr(outputs, "logits"):
        return outputs.logits
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


class TrainerLoss:
    """A ``compute_loss_func`` for ``transformers.Trainer`` (see :func:`loss_for_trainer`).

    ``loss_fn.loss`` is the VLAP.torch module (call ``loss_fn.loss.set_epoch(e)`` for
    :class:`VLAP.torch.Scheduled`; :class:`VLAP.torch.EMASigmoidF1` keeps its state).
    """

    def __init__(self, loss: torch.nn.Module, average_tokens_across_devices: bool = True):
        if not isinstance(average_tokens_across_devices, bool):
            raise TypeError("`average_tokens_across_devices` must be a bool. Received: "
                            f"average_tokens_across_devices={average_tokens_across_devices!r}")
        reduction = getattr(loss, "reduction", "mean")
        if reduction != "mean":
            raise ValueError(
                "The Trainer needs the loss as a mean: the micro-batch weighting of "
                "loss_for_trainer assumes it. Build the loss with reduction='mean'. "
                f"Received: reduction={reduction!r}")
        self.loss = loss
        self.average_tokens_across_devices = average_tokens_across_devices

    def __repr__(self):
        return f"TrainerLoss({self.loss!r})"

    def __call__(self, outputs, labels, num_items_in_batch=None):
        logits = _logits(outputs)
        if labels is None:
            raise ValueError("The Trainer passed labels=None: the dataset needs a 'labels' "
                             "column of 0/1 floats, shape (batch, num_labels).")
        labels = labels.to(device=logits.device)
        loss = self.loss.to(logits.device)
        value = loss(logits, labels.to(logits.dtype))
        if num_items_in_batch is None:
            return value
        # The Trainer (transformers >= 4.46) passes the number of label entries of the
        # whole accumulated batch, does not divide by the accumulation steps, and, with
        # average_tokens_across_devices (its default), multiplies the loss by the number
        # of processes. Weight this micro-batch by its share of the entries and undo
        # that factor (the global-batch losses already give DDP's averaging the global
        # gradient, see VLAP.torch.dist).
        size = world_size(getattr(loss, "process_group", None))
        ignore = getattr(loss, "ignore_index", None)  # the entries the loss counts
        entries = (labels.ne(ignore).sum() if ignore is not None else
                   torch.as_tensor(labels.numel(), device=labels.device)).to(torch.float64)
        total = torch.as_tensor(num_items_in_batch, dtype=torch.float64,
                                device=entries.device).reshape(-1)[0]
        synced = getattr(loss, "reduction_kind", None) == "batch" and is_synced(
            loss.sync, logits, loss.process_group)
        if size > 1:
            sums = torch.stack([entries, total])
            dist.all_reduce(sums, group=getattr(loss, "process_group", None))
            global_entries = sums[0]
            if not self.average_tokens_across_devices:
                total = sums[1]  # each rank counted its own entries only
        else:
            global_entries = entries
        if synced:  # the global batch's loss, the same on every rank
            target = value * (global_entries / total).to(value.dtype)
        else:  # this rank's mean: a row-weighted share of the global mean
            target = value * (size * entries / total).to(value.dtype)
        return target / size if self.average_tokens_across_devices else target


def loss_for_trainer(loss: str | torch.nn.Module = "sigmoid_f1", *,
                     average_tokens_across_devices: bool = True,
                     ignore_index: int | None = -100,
                     **kwargs: Any) -> TrainerLoss:
    """A ``Trainer(compute_loss_func=...)`` computing a VLAP loss on the model's logits.

    Under DDP (``torchrun``/``accelerate launch``) the batch-level losses are those of
    the global batch (see :mod:`VLAP.torch.dist`) and the update is that of one
    process on the concatenated batch, also when the ranks' batches differ in size
    (``accelerator_config={"even_batches": False}``; by default accelerate fills a
    short last batch with rows from the start of the data). With
    ``gradient_accumulation_steps=k`` each micro-batch's loss is weighted by its share
    of the accumulated examples: the update is that of
    ``sum_m (n_m / n) * loss(global micro-batch m)``, micro-batch m being the
    concatenation of every rank's m-th one, the example-weighted mean of the
    micro-batches' losses (a batch-level loss is not additive, so the accumulated
    batch's F1 itself would need all of its examples in one pass). The loss the
    Trainer reports is that value: on every rank for a batch-level loss; for an
    element-wise one (BCE, focal, ...) each rank returns its share, and the logs'
    mean over ranks is the global mean. tests/test_torch_hf_ddp.py checks all of this
    with 2 processes against one (1e-6).

    Args:
        loss: str or torch.nn.Module. A name for :func:`get_loss` (``"sigmoidF1"``,
            ``"weighted_sum"``, ``"jaccard"``, ``"bce"``, ...) or a VLAP.torch module.
        average_tokens_across_devices: bool. The value of the Trainer's
            ``TrainingArguments.average_tokens_across_devices`` (default ``True``);
            it decides whether the Trainer scales the loss by the number of
            processes, which this function undoes (it cannot read the Trainer's
            setting: pass the same value).
        ignore_index: int or None. Label entries equal to it (the Trainer's -100 by
            default) leave the loss's counts and the micro-batch weighting alike, for
            a loss given by name that takes ``ignore_index``; a module given as such
            keeps its own ``ignore_index``.
        **kwargs: the loss's options (``beta=5.0``, ``weight=0.1``, ...).

    Returns:
        TrainerLoss. Called as ``loss_fn(outputs, labels, num_items_in_batch=None)``.

    Example:
    >>> import torch
    >>> loss_fn = loss_for_trainer("sigmoidF1", beta=1.0)
    >>> out = {"logits": torch.tensor([[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]])}
    >>> labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    >>> round(float(loss_fn(out, labels, num_items_in_batch=6)), 4)
    0.2405
    """
    if isinstance(loss, str) and ignore_index is not None and "ignore_index" not in kwargs \
            and loss in registry.names() \
            and "ignore_index" in inspect.signature(vt.module_class(loss)).parameters:
        kwargs["ignore_index"] = ignore_index
    return TrainerLoss(get_loss(loss, **kwargs), average_tokens_across_devices)


def metrics_for_trainer(threshold: Any = 0.5, *, from_logits: bool = True,
                        rule: Any = None, **evaluate_kwargs: Any) -> Callable[[Any], dict]:
    """A ``Trainer(compute_metrics=...)`` reporting VLAP's evaluator.

    The Trainer gathers the logits and labels of the whole evaluation set (from
    every rank); this returns :func:`VLAP.evaluation.evaluate_predictions` of
    ``sigmoid(logits)`` (float64, as :func:`VLAP.evaluate`) as ``{name: value}``:
    ``f1_macro``, ``average_precision_macro``, ``label_count_mae``, ... (the
    Trainer logs them as ``eval_f1_macro``, ...). It uses VLAP's framework-free
    core only: no Keras or TensorFlow is imported.

    Args:
        threshold: float, array or DecisionRule. As
            :func:`VLAP.evaluation.evaluate_predictions` (``"tuned"`` is not
            available here: it needs validation scores).
        from_logits: bool. ``True`` (default): the model outputs logits.
        rule: DecisionRule or None. The decision rule
            (:class:`VLAP.inference.rule.DecisionRule`), instead of
            ``threshold`` and ``top_k``.
        **evaluate_kwargs: more options of ``evaluate_predictions`` (``top_k``,
            ``ks``, ``ranking_bins``).

    Returns:
        callable taking a ``transformers.EvalPrediction`` (or a tuple
        ``(predictions, label_ids)``) and returning a dict of floats.

    Example:
    >>> import numpy as np
    >>> metrics = metrics_for_trainer()
    >>> logits = np.array([[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0], [1.0, 1.0, -1.0]])
    >>> labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    >>> round(metrics((logits, labels))["f1_macro"], 4)
    1.0
    """
    from VLAP.inference.rule import make_rule

    if isinstance(threshold, str) and threshold == "tuned":
        raise ValueError("threshold='tuned' needs validation scores, which "
                         "compute_metrics does not get; tune with "
                         "VLAP.inference.tune_thresholds and pass the thresholds. "
                         "Received: threshold='tuned'")
    if not isinstance(from_logits, bool):
        raise TypeError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
    rule = make_rule(threshold, evaluate_kwargs.pop("top_k", None), rule=rule)

    def compute_metrics(eval_pred) -> dict:
        from VLAP.evaluation.report import evaluate_predictions
        from VLAP.inference.rule import as_probabilities

        if hasattr(eval_pred, "predictions"):
            predictions, labels = eval_pred.predictions, eval_pred.label_ids
        else:
            predictions, labels = eval_pred
        if isinstance(predictions, (tuple, list)):
            predictions = predictions[0]  # logits first, hidden states after
        outputs = np.asarray(predictions, dtype=np.float64)
        table = evaluate_predictions(np.asarray(labels, dtype=np.float64),
                                     as_probabilities(outputs, from_logits), rule=rule,
                                     **evaluate_kwargs)
        return {name: float(value) for name, value in table["value"].items()}

    return compute_metrics


compute_metrics = metrics_for_trainer()
"""``Trainer(compute_metrics=VLAP.torch.hf.compute_metrics)``: VLAP's report at 0.5."""

__all__ = ["LOSSES", "TrainerLoss", "compute_metrics", "get_loss", "loss_for_trainer",
           "metrics_for_trainer", "offline_checkpoint"]
