"""Thresholded multilabel metrics from one counting pass, exact and streamable.

Every thresholded score of the report comes from the same counts, computed once
by :func:`VLAP.ops.core.confusion_counts` (the counting step the losses and the
Keras metrics use) on NumPy, in row chunks so memory stays bounded:

* *format*: the decision rule (:class:`VLAP.inference.rule.DecisionRule`:
  cut points, or the ``k`` highest scores of each example), or decisions
  already made;
* *update*: per-label ``tp, fp, tn, fn`` (:func:`VLAP.ops.core.confusion_counts`)
  and per-example ``tp, predicted, true`` (:func:`VLAP.ops.core.example_counts`),
  from which the per-example scores are summed;
* *reduce*: :func:`VLAP.ops.core.reduce_score` for F1, precision, recall and
  Jaccard (micro, macro, weighted), and the sums for the ``samples`` averages,
  Hamming loss, subset accuracy and the label-count metrics.

Zero denominators give 0, as scikit-learn's ``zero_division=0``: an example
with no true and no predicted label scores 0 in the ``samples`` averages.

Example:
>>> import numpy as np
>>> from VLAP.evaluation.counts import ThresholdedCounts
>>> counts = ThresholdedCounts(3)
>>> y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
>>> scores = np.array([[0.9, 0.2, 0.4], [0.6, 0.7, 0.1], [0.8, 0.3, 0.2]])
>>> counts.update(y, scores, threshold=0.5)
>>> m = counts.metrics()
>>> round(m["f1_macro"], 4), round(m["f1_micro"], 4), round(m["hamming_loss"], 4)
(0.4889, 0.6667, 0.3333)
"""

import numpy as np

from VLAP.inference.rule import DEFAULT_THRESHOLD, DecisionRule, TopK
from VLAP.ops import core
from VLAP.ops.numpy_ops import NUMPY_OPS

#: Elements per chunk: bounds the temporaries of one counting step (~16 MB each).
CHUNK_ELEMENTS = 1 << 22
AVERAGES = ("micro", "macro", "weighted", "samples")
_TINY = np.finfo(np.float64).tiny  # zero_division=0, see core.reduce_score
_EXAMPLE_SUMS = ("f1", "precision", "recall", "jaccard", "exact", "count_abs_error",
                 "count_equal", "predicted", "true", "errors")
#: The metrics read from the per-example sums (the others need only per-label counts).
PER_EXAMPLE_METRICS = ("f1_samples", "precision_samples", "recall_samples", "hamming_loss",
                       "subset_accuracy", "jaccard_samples", "label_count_mae",
                       "label_count_accuracy", "mean_predicted_labels", "mean_true_labels")


def row_chunks(n_rows, num_labels, chunk_elements=CHUNK_ELEMENTS):
    """``slice`` objects covering ``range(n_rows)`` with about ``chunk_elements`` each."""
    step = max(1, chunk_elements // max(1, num_labels))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def _safe_ratio(num, den):
    return np.divide(num, den, out=np.zeros(np.shape(num), dtype=np.float64),
                     where=den != 0)


class ThresholdedCounts:
    """Running counts for every thresholded metric: ``update`` chunks, then ``metrics``.

    State: per-label ``tp, fp, tn, fn`` (int64) and the sums over examples of
    the per-example scores. Updates add counts, so the result on batches equals
    the result on their concatenation exactly.

    Args:
        num_labels: int. Number of labels (columns).
        per_example: bool. Also keep the per-example sums (default); False
            counts per label only, and :meth:`metrics` leaves out
            :data:`PER_EXAMPLE_METRICS`.
    """

    def __init__(self, num_labels, *, per_example=True):
        self.num_labels = int(num_labels)
        self.per_example = bool(per_example)
        self.reset()

    def reset(self):
        """Forget every update."""
        zeros = np.zeros(self.num_labels, dtype=np.int64)
        self.tp, self.fp, self.tn, self.fn = (zeros.copy() for _ in range(4))
        self.n_samples = 0
        self.sums = dict.fromkeys(_EXAMPLE_SUMS, 0.0)

    def update(self, y_true, scores, *, threshold=None, top_k: "int | None" = None,
               decisions=None, rule=None, from_logits: bool = False) -> None:
        """Count one batch (any size: it is processed in row chunks).

        Args:
            y_true: 0/1 array of shape ``(n, num_labels)`` (checked by the caller).
            scores: array of the same shape.
            threshold: float or array of shape ``(num_labels,)``: predict
                ``scores > threshold``, a cut on the scores' own scale
                (probabilities, or logits with a logit cut; default 0.5).
                Ignored when ``top_k`` is given.
            top_k: int or None. Predict the ``k`` highest scores per example.
            decisions: 0/1 array of the shape of ``y_true``, or None. Decisions
                already made (e.g. by a packaged model's own rule): counted as
                they are, ``threshold``, ``top_k`` and ``rule`` unused.
            rule: DecisionRule or None. The decision rule
                (:class:`VLAP.inference.rule.DecisionRule`), instead of
                ``threshold`` and ``top_k``.
            from_logits: bool. With ``rule``: whether ``scores`` are logits
                (default: probabilities).
        """
        if decisions is None and rule is None:  # a raw cut: scores > threshold, as given
            from_logits = True
            rule = (TopK(top_k) if top_k is not None else
                    DecisionRule.cut_points(DEFAULT_THRESHOLD if threshold is None else threshold))
        for rows in row_chunks(len(y_true), self.num_labels):
            y = np.asarray(y_true[rows], dtype=np.uint8)
            if decisions is not None:
                p = np.asarray(decisions[rows], dtype=np.uint8)
            else:
                p = rule.apply(scores[rows], from_logits=from_logits)
            self._add(y, p)

    def _add(self, y, p):
        # 0/1 arrays counted as bool (NUMPY_OPS sums those in small integers, exactly):
        # three sums (tp, predicted, positives) give the four counts, cheaper than four
        # products and four sums.
        y, p = y.view(bool), p.view(bool)
        counts = core.confusion_counts(NUMPY_OPS, y, p, from_totals=True)
        for name, value in zip(("tp", "fp", "tn", "fn"), counts):
            setattr(self, name, getattr(self, name) + value.astype(np.int64))
        if not self.per_example:
            self.n_samples += len(y)
            return
        tp, predicted, true = (c.astype(np.int64) for c in
                               core.example_counts(NUMPY_OPS, y, p))
        errors = predicted + true - 2 * tp  # fp + fn of each example
        union = predicted + true - tp
        per_example = {
            "f1": _safe_ratio(2 * tp, predicted + true),
            "precision": _safe_ratio(tp, predicted),
            "recall": _safe_ratio(tp, true),
            "jaccard": _safe_ratio(tp, union),
            "exact": errors == 0,
            "count_abs_error": np.abs(predicted - true),
            "count_equal": predicted == true,
            "predicted": predicted,
            "true": true,
            "errors": errors,
        }
        for name, value in per_example.items():
            self.sums[name] += float(np.sum(value, dtype=np.float64))
        self.n_samples += len(y)

    def merge(self, other):
        """Add the counts of another :class:`ThresholdedCounts` (e.g. another shard)."""
        for name in ("tp", "fp", "tn", "fn"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in _EXAMPLE_SUMS:
            self.sums[name] += other.sums[name]
        self.n_samples += other.n_samples
        return self

    def per_label(self) -> dict:
        """Per-label ``support, predicted, precision, recall, f1``, as a dict of arrays."""
        counts = [c.astype(np.float64) for c in (self.tp, self.fp, self.tn, self.fn)]
        out = {"support": self.tp + self.fn, "predicted": self.tp + self.fp}
        for name, score in (("precision", "precision"), ("recall", "recall"),
                            ("f1", "fbeta")):
            out[name] = core.reduce_score(NUMPY_OPS, score, *counts, average=None,
                                          epsilon=_TINY)
        return out

    def metrics(self) -> dict:
        """Every thresholded metric, as a dict of floats (NaN before any update)."""
        n = self.n_samples
        if n == 0:
            return {}
        counts = [c.astype(np.float64) for c in (self.tp, self.fp, self.tn, self.fn)]
        values = {}
        for name, score in (("f1", "fbeta"), ("precision", "precision"),
                            ("recall", "recall")):
            for avg in AVERAGES[:3]:
                values[f"{name}_{avg}"] = float(core.reduce_score(
                    NUMPY_OPS, score, *counts, average=avg, epsilon=_TINY))
            values[f"{name}_samples"] = self.sums[name] / n
        s = self.sums
        values["hamming_loss"] = s["errors"] / (n * self.num_labels)
        values["subset_accuracy"] = s["exact"] / n
        values["jaccard_samples"] = s["jaccard"] / n
        values["jaccard_macro"] = float(core.reduce_score(
            NUMPY_OPS, "jaccard", *counts, average="macro", epsilon=_TINY))
        values["label_count_mae"] = s["count_abs_error"] / n
        values["label_count_accuracy"] = s["count_equal"] / n
        values["mean_predicted_labels"] = s["predicted"] / n
        values["mean_true_labels"] = s["true"] / n
        present = (self.tp + self.fn) > 0  # labels with a positive example
        per_label_f1 = core.reduce_score(NUMPY_OPS, "fbeta", *counts, average=None,
                                         epsilon=_TINY)
        values["f1_macro_present"] = (float(np.mean(per_label_f1[present])) if present.any()
                                      else float("nan"))
        if not self.per_example:
            return {name: v for name, v in values.items() if name not in PER_EXAMPLE_METRICS}
        return values


__all__ = ["AVERAGES", "PER_EXAMPLE_METRICS", "ThresholdedCounts", "row_chunks"]
