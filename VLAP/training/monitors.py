"""Validation scores for early stopping that no loss's scale or 0.5 cut can bias.

``val_loss`` compares a loss with itself, but its minimum is not where the
label decisions are best: on held-out text, BCE's validation loss was lowest at
epoch 2 of 18 (validation macro-F1 .230) while its macro-F1 peaked at epoch 12
(.290). Macro-F1 at a fixed 0.5 cut handicaps the losses whose probabilities
have not yet crossed 0.5 (BCE and focal early on, rare labels). The scores here
depend on neither:

* ``val_f1_macro_tuned``: validation macro-F1 with per-label cuts tuned on
  validation and scored *out of fold* (:func:`tuned_macro_f1_oof`, the figure by
  which ``vlap run`` prefers tuned cuts to 0.5,
  :func:`VLAP.inference.tuning.choose_rule`): a loss is judged by how well it
  ranks each label, whatever its calibration, and the epoch kept for tuned cuts
  is the one their shipped-rule choice would rate best. (In sample, tuned cuts
  only ever look better; :func:`tuned_macro_f1` is that in-sample figure.)
  Fewer than two validation rows per fold: the macro-F1 at 0.5, as the rule
  choice then keeps 0.5;
* ``val_map``: validation mean average precision over the labels with a
  positive example (threshold-free).

:class:`ValidationScores` predicts the validation data once per epoch and adds
both to the epoch logs, where early stopping (``monitor=``), ``history.csv`` and
the ``History`` read them. :func:`VLAP.train` adds it by itself when
``monitor`` names one of :data:`MONITORS`. Their names, directions and headers
are declared in the metric table
(:data:`VLAP.evaluation.metric_table.MONITOR_METRICS`).

Example:
>>> import numpy as np, keras, VLAP
>>> x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
>>> y = (x[:, :3] > 0).astype("float32")
>>> ds = VLAP.createDataset(x, y, batch_size=16, seed=0)
>>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
>>> model, history = VLAP.train(model, ds, ds, 3, epochs=2, seed=0, verbose=0,
...                             monitor="val_f1_macro_tuned")
>>> sorted(k for k in history.history if k in MONITORS)
['val_f1_macro_tuned', 'val_map']
"""

import warnings
from collections.abc import Callable

import keras
import numpy as np

from VLAP.evaluation.metric_table import MONITOR_METRICS

__all__ = ["MONITORS", "ValidationScores", "tuned_macro_f1", "tuned_macro_f1_oof",
           "mean_average_precision"]

#: The logs :class:`ValidationScores` adds (``val_`` + a name of the metric table's
#: ``MONITOR_METRICS``; both maximised).
MONITORS = tuple(f"val_{m.name}" for m in MONITOR_METRICS)


def tuned_macro_f1(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Macro-F1 of ``scores`` with per-label thresholds tuned on the same data.

    Labels without a positive example keep the threshold 0.5 (no warning here:
    that happens every epoch and says nothing about the model).

    Example:
    >>> round(tuned_macro_f1(np.array([[1, 0], [0, 1]]), np.array([[0.2, 0.1], [0.1, 0.3]])), 3)
    1.0
    """
    from VLAP.evaluation.counts import ThresholdedCounts
    from VLAP.inference import tune_thresholds

    y_true, scores = np.asarray(y_true), np.asarray(scores)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        thresholds = tune_thresholds(y_true, scores)
    counts = ThresholdedCounts(y_true.shape[1])
    counts.update(y_true, scores, threshold=thresholds)
    return float(counts.metrics()["f1_macro"])


def tuned_macro_f1_oof(y_true: np.ndarray, outputs: np.ndarray, from_logits: bool = True
                       ) -> float:
    """Validation macro-F1 of tuned per-label cuts, out of fold, on a model's raw outputs.

    :func:`VLAP.inference.tuning.tuned_macro_f1_oof` (the estimate
    :func:`~VLAP.inference.tuning.choose_rule` compares with 0.5), or the
    macro-F1 at 0.5 when there are too few rows to fold (the rule choice then
    keeps 0.5).

    Example:
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random((300, 3)) < 0.3).astype(int)
    >>> round(tuned_macro_f1_oof(y, 2.0 * y - 2.5 + rng.normal(size=y.shape)), 3)
    0.712
    """
    from VLAP.inference.tuning import choose_rule

    record = choose_rule(y_true, outputs, from_logits=bool(from_logits))
    oof = record["val_f1_macro_tuned_oof"]
    return float(record["val_f1_macro_fixed"] if oof is None else oof)


def mean_average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean over labels with a positive (and a negative) example of average precision.

    Example:
    >>> mean_average_precision(np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.1], [0.2, 0.3]]))
    1.0
    """
    from VLAP.evaluation.ranking import label_ranking_scores

    ap, _ = label_ranking_scores(np.asarray(y_true), np.asarray(scores))
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


#: How each score of ``MONITOR_METRICS`` is computed: from which head (a dual-head
#: model decides with one head and ranks with the other), and from the raw outputs
#: (``f(y, outputs, from_logits)``) or from probabilities (``f(y, probabilities)``).
SCORE_FUNCTIONS: "dict[str, tuple[Callable[..., float], str, str]]" = {
    "f1_macro_tuned": (tuned_macro_f1_oof, "decision", "outputs"),
    "map": (mean_average_precision, "ranking", "probabilities"),
}


class ValidationScores(keras.callbacks.Callback):
    """Adds ``val_f1_macro_tuned`` (out of fold) and ``val_map`` to every epoch's logs.

    Place it before the callbacks that read them (``CSVLogger``,
    :class:`VLAP.training.RunCheckpoint`): Keras hands every callback the same
    logs dict, in list order.

    Args:
        val_data: the validation data (a ``tf.data.Dataset`` of ``(x, y)`` or
            anything :func:`VLAP.inference.predict_scores` reads), in a fixed
            order (``createDataset(..., is_training=False)``): the out-of-fold
            folds are dealt by row position, so a reshuffled validation set
            would score each epoch on other folds.
        from_logits: bool. Whether the model outputs logits (the compiled
            loss's ``from_logits``).
        dual_head: bool. The model outputs a decision head then a score head
            (``(batch, 2 * num_labels)``, :class:`VLAP.losses.DualHead`):
            ``val_f1_macro_tuned`` is the decision head's, ``val_map`` the score head's.
    """

    def __init__(self, val_data, from_logits: bool = True, dual_head: bool = False):
        super().__init__()
        if val_data is None:
            raise ValueError("ValidationScores needs validation data. Received: val_data=None")
        self.val_data = val_data
        self.from_logits = bool(from_logits)
        self.dual_head = bool(dual_head)

    def on_epoch_end(self, epoch, logs=None):
        from VLAP.inference.rule import as_probabilities

        if logs is None:
            return
        if self.dual_head:  # (batch, 2L) outputs: not label-shaped, so not iter_outputs'
            ys, outs = [], []
            for batch in self.val_data:  # NumPy inputs: a tf.data batch feeds every backend
                x = keras.tree.map_structure(np.asarray, batch[0])
                ys.append(np.asarray(batch[1]))
                outs.append(keras.ops.convert_to_numpy(self.model.predict_on_batch(x)))
        else:  # the raw outputs, as vlap run's rule choice reads them
            from VLAP.inference.scores import iter_outputs

            ys, outs = map(list, zip(*((b_y, b_out)
                                       for b_y, b_out, _ in iter_outputs(self.model,
                                                                         self.val_data))))
        y_true = np.concatenate(ys).astype(np.float64)
        outputs = np.concatenate(outs).astype(np.float64)
        num_labels = y_true.shape[-1]
        heads = {"decision": outputs[:, :num_labels],
                 "ranking": outputs[:, num_labels:] if self.dual_head else outputs}
        for metric in MONITOR_METRICS:
            compute, head, reads = SCORE_FUNCTIONS[metric.name]
            if reads == "outputs":
                value = compute(y_true, heads[head], self.from_logits)
            else:
                value = compute(y_true, as_probabilities(heads[head], self.from_logits))
            logs[f"val_{metric.name}"] = value
