"""Streaming evaluation: ``update(y_true, scores)`` per batch, ``result()`` at the end.

:class:`MultilabelEvaluator` has torchmetrics' shape (``update`` / ``result`` /
``reset``). What it keeps between batches:

* the thresholded metrics (F1, precision, recall, Jaccard, Hamming loss,
  subset accuracy, label counts): per-label and per-example *counts*
  (:class:`VLAP.evaluation.counts.ThresholdedCounts`), exact, O(num_labels);
* the per-example ranking metrics (precision@k, recall@k, nDCG@k, LRAP,
  coverage error, ranking loss): sums over examples, exact, O(1);
* average precision and ROC AUC (per label and micro):
  - ``ranking_bins=None`` (default, exact): the labels (1 byte each) and scores
    of every batch, because exact AP/AUC need the full order of the scores;
    ``result()`` then packs them into one key matrix the size of the scores
    and sorts it (see :mod:`VLAP.evaluation.ranking`);
  - ``ranking_bins=B``: per-label histograms of ``B`` fixed bins over [0, 1]
    (as torchmetrics' ``thresholds=B``), O(num_labels x B) memory. Scores in
    one bin count as tied; ``result().attrs["ranking_error_bound"]`` gives,
    for each binned metric, a bound on its distance to the exact value that
    holds for any scores falling into these bins (AUC: the share of
    positive-negative pairs that share a bin, halved);
* metrics of yours (``metrics=``, :class:`VLAP.evaluation.metric_table.Metric`):
  a ``computed_by="confusion"`` one reads the per-label counts above, so it
  streams at no cost; a ``computed_by="arrays"`` one reads every example's
  labels, decisions and scores: the exact mode keeps the labels and scores
  anyway, plus here the decisions (1 byte per label entry), and ``result()``
  joins each into one array (about the score matrix again, on top of the
  sort keys). It is refused with ``ranking_bins``, which keeps no examples.

The report's rows, their order and their directions come from the metric table
(:mod:`VLAP.evaluation.metric_table`): each row names the path that computes it.

Example:
>>> import numpy as np
>>> from VLAP.evaluation import MultilabelEvaluator
>>> y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
>>> s = np.array([[0.9, 0.2, 0.4], [0.6, 0.7, 0.1], [0.8, 0.3, 0.2]])
>>> ev = MultilabelEvaluator(ks=(1,))
>>> ev.update(y[:2], s[:2])
>>> ev.update(y[2:], s[2:])
>>> df = ev.result()
>>> round(float(df.loc["f1_macro", "value"]), 4), round(float(df.loc["precision_at_1", "value"]), 4)
(0.4889, 1.0)
"""

import numbers
from typing import Any
import warnings

import numpy as np
import pandas as pd

from VLAP._validation import check_positive_int
from VLAP._arrays import check_label_names, check_labels, check_probabilities
from VLAP.evaluation.binned import bin_counts, binned_ranking_scores
from VLAP.evaluation.counts import PER_EXAMPLE_METRICS, ThresholdedCounts
from VLAP.evaluation.metric_table import check_ks, report_metrics, select_metrics
from VLAP.inference.rule import DEFAULT_THRESHOLD, DecisionRule, make_rule
from VLAP.evaluation.ranking import (
    DEFAULT_KS,
    ExampleRankingSums,
    pack_keys,
    row_sorted_micro_scores,
    sorted_label_scores,
    sorted_micro_scores,
    transposed_keys,
)

#: The rows of the per-label AP/AUROC (one sort per label) and of the micro ones
#: (all keys pooled: merged from the per-label sorts, or one sort).
LABEL_RANKING_ROWS = ("average_precision_macro", "roc_auc_macro",
                      "average_precision_macro_present")
MICRO_RANKING_ROWS = ("average_precision_micro", "roc_auc_micro")
PER_LABEL_COLUMNS = ("support", "predicted", "precision", "recall", "f1",
                     "average_precision", "roc_auc", "threshold")


def metric_names(ks=DEFAULT_KS):
    """The report's built-in rows for cut-offs ``ks``, in the metric table's order."""
    return tuple(m.name for m in report_metrics(ks))


def _real(name, value):
    """A metric's value as a float, or a TypeError naming the metric."""
    number = isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray) and value.ndim == 0
        and np.issubdtype(value.dtype, np.number))
    if not number or isinstance(value, (bool, np.bool_)) or np.iscomplexobj(value):
        raise TypeError(f"Metric {name!r} must return a real number (a float). "
                        f"Received: {value!r}")
    return float(value)


class MultilabelEvaluator:
    """Accumulate batches of ``(y_true, scores)``; ``result()`` is the full report.

    Args:
        num_labels: int or None. Number of labels; `None` takes it from the
            first batch.
        threshold: float or array. A probability in [0, 1] for every label
            (default `0.5`) or one per label: a label is predicted when its
            score is above it (leave it at 0.5 with `top_k`).
        top_k: int or None. Predict the `k` highest scores of every example.
        ks: sequence of int. Cut-offs of precision@k, recall@k and nDCG@k.
        ranking_bins: int or None. `None` (default): exact AP and AUC (keeps
            the labels and scores of every batch). An int `B`: AP and AUC from
            `B` fixed score bins, in bounded memory, with an error bound.
        label_names: sequence of str or None. Names for the per-label table.
        rule: DecisionRule or None. The decision rule
            (:class:`VLAP.inference.rule.DecisionRule`), instead of
            `threshold` and `top_k`; applied to the scores (probabilities).
        metrics: sequence or None. Names of the report's own rows (a
            selection: `result()` then has only the rows named, in this order,
            and the evaluator keeps and computes only what they need; `@k`
            rows with any `k`, `ks` then unused), and/or metrics of yours:
            :class:`~VLAP.evaluation.metric_table.Metric` records, names given
            to :func:`~VLAP.evaluation.metric_table.register_metric`, or
            functions `f(y_true, decisions, scores) -> float` (see
            :func:`~VLAP.evaluation.metric_table.select_metrics`; the memory
            they cost is in the module docstring). Without a built-in name,
            every built-in row, then yours. A selection without
            per-label AP/AUROC rows leaves the per-label table's
            `average_precision` and `roc_auc` NaN.

    Results equal :func:`VLAP.evaluation.evaluate_predictions` on the
    concatenated batches (exactly, in the default mode).
    """

    def __init__(self, num_labels=None, *, threshold=DEFAULT_THRESHOLD, top_k=None,
                 ks=DEFAULT_KS, ranking_bins=None, label_names=None,
                 rule: "DecisionRule | None" = None, metrics=None):
        self.num_labels = check_positive_int("num_labels", num_labels, allow_none=True)
        self.ranking_bins = check_positive_int("ranking_bins", ranking_bins,
                                               allow_none=True)
        self.rule = make_rule(threshold, top_k, rule=rule)
        self.top_k = self.rule.k
        self._selection = select_metrics(metrics, ks, self.ranking_bins)
        self.ks = self._selection.ks
        self.metrics = self._selection.mine
        self._keep_decisions = any(m.computed_by == "arrays" for m in self.metrics)
        # what the rows need: the per-example sort, the per-label sorts, their merge
        self._per_label_ranking = self._selection.computes(*LABEL_RANKING_ROWS)
        self._micro_ranking = self._selection.computes(*MICRO_RANKING_ROWS)
        self._example_ranking = self._selection.uses("example_ranking")
        self.threshold = threshold
        self.label_names = label_names
        self.threshold_strategy = None  # overrides rule.strategy in the report, if set
        self.reset()

    def reset(self) -> None:
        """Forget every batch (the settings stay)."""
        # built by _build() when the number of labels is known (here or at the first batch)
        self._counts: Any = None  # ThresholdedCounts
        self._ranking: Any = None  # ExampleRankingSums
        self._blocks: list = []
        self._pos_hist: Any = None
        self._all_hist: Any = None
        self._decision_blocks: list = []
        if self.num_labels is not None:
            self._build(self.num_labels)

    def _build(self, num_labels):
        self.num_labels = num_labels
        self._index = check_label_names(self.label_names, num_labels)
        self._rule = self.rule.for_labels(num_labels)
        self._thresholds = self._rule.thresholds  # probabilities per label, or None
        self._counts = ThresholdedCounts(
            num_labels, per_example=self._selection.computes(*PER_EXAMPLE_METRICS))
        self._ranking = ExampleRankingSums(num_labels, self.ks) if self._example_ranking \
            else None

    def update(self, y_true, scores, validate_args: bool = True, decisions=None) -> None:
        """Add a batch: `y_true` 0/1 and `scores` in [0, 1], shape `(batch, num_labels)`.

        Args:
            y_true: array. 0/1 labels (bool and uint8 arrays are used without a copy).
            scores: array. Probabilities (float32 is kept as float32).
            validate_args: bool. Check values and shapes (as torchmetrics'
                `validate_args`); `False` skips the checks for inputs already
                checked: then `y_true` must be a bool or uint8 0/1 array and
                `scores` a float32 or float64 array of probabilities.
            decisions: 0/1 array like `y_true`, or None. Decisions already made
                by a decision rule (:mod:`VLAP.inference.decision`, a packaged
                model's own): the thresholded metrics count them, the ranking
                metrics use `scores`.
        """
        if validate_args:
            y = check_labels(y_true, "y_true", min_labels=1)
            s = check_probabilities(scores, "scores", y.shape, "y_true")
        else:
            y, s = np.asarray(y_true).view(np.uint8), np.asarray(scores)
        if self._counts is None:
            self._build(y.shape[1])
        elif y.shape[1] != self.num_labels:
            raise ValueError(
                f"This evaluator has num_labels={self.num_labels}. Received a batch "
                f"with y_true.shape={y.shape}")
        if decisions is not None:
            decisions = check_labels(decisions, "decisions", min_labels=1) \
                if validate_args else np.asarray(decisions)
            if decisions.shape != y.shape:
                raise ValueError("`decisions` must have the shape of `y_true`. Received: "
                                 f"decisions.shape={decisions.shape}, y_true.shape={y.shape}")
        if self._keep_decisions:
            # a metric of yours reads the decisions: make them once, count those
            decisions = (self._decide(y, s) if decisions is None
                         else np.array(decisions, dtype=np.uint8, copy=True))
            self._decision_blocks.append(decisions)
        self._counts.update(y, s, rule=self._rule, decisions=decisions)
        if self._ranking is not None:
            self._ranking.update(y, s)
        ranks = self._per_label_ranking or self._micro_ranking
        if self.ranking_bins is None:
            if ranks or self._keep_decisions:  # else no row reads the scores again
                # kept until result(): copy what may be a view of a reused batch buffer
                self._blocks.append((y, s) if not validate_args else
                                    (np.array(y, copy=True), np.array(s, copy=True)))
        elif ranks:
            pos, total = bin_counts(y, s, self.ranking_bins)
            if self._pos_hist is None:
                self._pos_hist, self._all_hist = pos, total
            else:
                self._pos_hist += pos
                self._all_hist += total

    def _decide(self, y, s):
        """This evaluator's decisions on a batch: its rule on the probabilities, as
        ThresholdedCounts applies it."""
        return self._rule.apply(s, from_logits=False)

    # --- result -------------------------------------------------------------

    def _user_values(self):
        """``{name: float}`` of the metrics of yours (``self.metrics``)."""
        out, arrays = {}, None
        counts = (self._counts.tp, self._counts.fp, self._counts.tn, self._counts.fn)
        for m in self.metrics:
            compute = m.compute
            assert compute is not None  # check_metrics() refuses a user metric without one
            if m.computed_by == "confusion":
                value = compute(*(c.copy() for c in counts))
            else:
                if arrays is None:
                    arrays = (np.concatenate([y for y, _ in self._blocks]),
                              np.concatenate(self._decision_blocks),
                              np.concatenate([s for _, s in self._blocks]))
                value = compute(*arrays)
            out[m.name] = _real(m.name, value)
        return out

    def _ap_auc(self):
        """Per-label AP, AUC, micro AP, AUC and the binned error bounds (or {}).

        Only what the rows need: NaN for the others.
        """
        nan = np.full(int(self.num_labels or 0), np.nan)
        if not (self._per_label_ranking or self._micro_ranking):
            return nan, nan.copy(), (np.nan, np.nan), {}
        if self.ranking_bins is None:
            positives = int(self._counts.tp.sum() + self._counts.fn.sum())
            micro = (np.nan, np.nan)
            if not self._per_label_ranking:  # micro only: no transpose, no per-label sorts
                kd = np.uint32 if all(s.dtype == np.float32 for _, s in self._blocks) \
                    else np.uint64
                keys = np.concatenate([pack_keys(s.astype(np.float64, copy=False)
                                                 if kd is np.uint64 else s, y)
                                       for y, s in self._blocks])
                return nan, nan.copy(), sorted_micro_scores(keys, positives), {}
            keys = transposed_keys(self._blocks, self.num_labels)
            ap, auc = sorted_label_scores(keys)  # sorts every row of the keys
            if self._micro_ranking:  # then all of them: merged, or sorted in place
                micro = row_sorted_micro_scores(keys, positives)
            del keys
            return ap, auc, micro, {}
        ap, auc, ap_b, auc_b = binned_ranking_scores(self._pos_hist, self._all_hist)
        m = binned_ranking_scores(self._pos_hist.sum(0), self._all_hist.sum(0))
        return ap, auc, m[:2], {"ap_per_label": ap_b, "auc_per_label": auc_b,
                                "average_precision_micro": float(m[2]),
                                "roc_auc_micro": float(m[3])}

    def result(self, per_label: bool = False):
        """The report: a DataFrame indexed by metric (and the per-label table).

        Returns:
            pandas.DataFrame with one column `"value"`, rows in the order of
            :func:`metric_names`, then the `metrics` of yours; `attrs` as
            :func:`evaluate_predictions`'s, plus `ranking_bins` and
            `ranking_error_bound`. With
            `per_label=True`, `(summary, per_label_df)`.
        """
        if self._counts is None or self._counts.n_samples == 0:
            raise ValueError("`result()` needs at least one `update()` with examples.")
        n, num_labels = self._counts.n_samples, int(self.num_labels or 0)
        positives = self._counts.tp + self._counts.fn
        valid = (positives > 0) & (positives < n)
        present = positives > 0
        excluded = [self._index[j] for j in np.flatnonzero(~valid)]
        absent = [self._index[j] for j in np.flatnonzero(~present)]
        message = left_out_message(positives, n, self._index)
        if message and (self._per_label_ranking or self._selection.computes("f1_macro_present")):
            warnings.warn(message, UserWarning, stacklevel=2)
        if self._micro_ranking and not 0 < positives.sum() < n * num_labels:
            warnings.warn(
                "`y_true` has no positive or no negative entry at all: "
                "average_precision_micro and roc_auc_micro are NaN.",
                UserWarning, stacklevel=2,
            )
        ap, auc, (ap_micro, auc_micro), bounds = self._ap_auc()
        any_valid = valid.any()
        # every path's values; the metric table says which path gives each row
        computed = {
            "counts": self._counts.metrics(),
            "example_ranking": {} if self._ranking is None else self._ranking.metrics(),
            "label_ranking": {
                "average_precision_macro": float(np.mean(ap[valid])) if any_valid else np.nan,
                "average_precision_micro": float(ap_micro),
                "roc_auc_macro": float(np.mean(auc[valid])) if any_valid else np.nan,
                # a label with positives only: every ranking is perfect (AP 1, as sklearn)
                "average_precision_macro_present": float(np.mean(
                    np.where(valid, ap, 1.0)[present])) if present.any() else np.nan,
                "roc_auc_micro": float(auc_micro),
            },
        }
        error_bound = {}
        if bounds:
            error_bound = {
                "average_precision_macro": float(np.mean(bounds["ap_per_label"][valid]))
                if any_valid else np.nan,
                "roc_auc_macro": float(np.mean(bounds["auc_per_label"][valid]))
                if any_valid else np.nan,
                "average_precision_micro": bounds["average_precision_micro"],
                "roc_auc_micro": bounds["roc_auc_micro"],
            }
        yours = self._user_values()
        names = [m.name for m in self._selection.order]
        column = [yours[m.name] if m.name in yours else float(computed[m.computed_by][m.name])
                  for m in self._selection.order]
        summary = pd.DataFrame({"value": column}, index=pd.Index(names, name="metric"))
        strategy = self.threshold_strategy or self._rule.strategy
        summary.attrs.update({
            "threshold_strategy": strategy,
            "threshold": (None if self._thresholds is None
                          else float(self._thresholds[0]) if strategy == "fixed"
                          else self._thresholds.tolist()),
            "top_k": self.top_k,
            "ks": list(self.ks),
            "n_samples": int(n),
            "num_labels": int(num_labels),
            "excluded_labels": excluded,
            "labels_without_positives": absent,
            "ranking_bins": self.ranking_bins,
            "ranking_error_bound": error_bound,
        })
        if not per_label:
            return summary
        table = self._counts.per_label()
        table = pd.DataFrame({
            "support": table["support"], "predicted": table["predicted"],
            "precision": table["precision"], "recall": table["recall"], "f1": table["f1"],
            "average_precision": ap, "roc_auc": auc,
            "threshold": (np.full(num_labels, np.nan) if self._thresholds is None
                          else self._thresholds),
        }, index=self._index, columns=list(PER_LABEL_COLUMNS))
        table.attrs.update(summary.attrs)
        return summary, table


def left_out_message(positives, n_samples, label_names):
    """The one sentence naming the labels left out of label averages, or None.

    A label with no positive example is left out of ``average_precision_macro``,
    ``roc_auc_macro`` and the ``*_present`` rows; one with no negative example
    out of ``average_precision_macro`` and ``roc_auc_macro``.

    Args:
        positives: array of shape ``(num_labels,)``. Positive examples per label.
        n_samples: int. Examples in the split.
        label_names: sequence. One name per label.

    Example:
    >>> left_out_message(np.array([3, 0, 1]), 3, ["sky", "sea", "sun"])  # doctest: +NORMALIZE_WHITESPACE
    '2 of 3 labels of `y_true` are left out of label averages: 1 with no positive example
    (left out of average_precision_macro, roc_auc_macro, f1_macro_present and
    average_precision_macro_present): sea; 1 with no negative example (left out of
    average_precision_macro and roc_auc_macro): sky'
    """
    positives = np.asarray(positives)
    present, valid = positives > 0, (positives > 0) & (positives < n_samples)
    if valid.all():
        return None
    absent = [label_names[j] for j in np.flatnonzero(~present)]
    only_positive = [label_names[j] for j in np.flatnonzero(present & ~valid)]
    parts = []
    if absent:
        parts.append(f"{len(absent)} with no positive example (left out of "
                     "average_precision_macro, roc_auc_macro, f1_macro_present and "
                     f"average_precision_macro_present): {_names(absent)}")
    if only_positive:
        parts.append(f"{len(only_positive)} with no negative example (left out of "
                     f"average_precision_macro and roc_auc_macro): {_names(only_positive)}")
    nan = ("; average_precision_macro and roc_auc_macro are NaN: no label left"
           if not valid.any() else "")
    return (f"{int((~valid).sum())} of {len(positives)} labels of `y_true` are left out of "
            f"label averages: {'; '.join(parts)}{nan}")


def _names(labels, shown=10):
    """The first ``shown`` label names of a warning, then how many more."""
    more = f" and {len(labels) - shown} more" if len(labels) > shown else ""
    return ", ".join(str(name) for name in labels[:shown]) + more


__all__ = ["PER_LABEL_COLUMNS", "MultilabelEvaluator", "left_out_message", "metric_names"]
