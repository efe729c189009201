"""The metric table: every report metric declared once, and the metrics you add.

Each row of the report (:func:`VLAP.evaluation.evaluate_predictions`) is one
:class:`Metric` record here, with its name, how it is computed, whether higher
is better, its table header and what it averages over, as torchmetrics
declares ``higher_is_better`` on each metric class. Everything else reads it:
the report's rows and their order, :class:`~VLAP.evaluation.MultilabelEvaluator`'s
``result()``, the results tables' headers and best values
(:mod:`VLAP.experiments.results`), the checkpoint monitor's direction
(:class:`VLAP.training.RunCheckpoint`, :mod:`VLAP.training.monitors`), the
Keras metrics' direction (:mod:`VLAP.metrics`) and the config's ``monitor``
check, and a report's ``metrics=`` (:func:`select_metrics`: names of these rows
select them, and the report computes only what they need). This module imports
no framework.

How a metric is computed (``computed_by``):

* ``"counts"``: one counting pass over the decisions
  (:class:`VLAP.evaluation.counts.ThresholdedCounts`), exact and streamable;
* ``"label_ranking"``: per-label and pooled sorts of the scores
  (:mod:`VLAP.evaluation.ranking`; :mod:`VLAP.evaluation.binned` with
  ``ranking_bins``);
* ``"example_ranking"``: one sort per example
  (:class:`VLAP.evaluation.ranking.ExampleRankingSums`), exact and streamable;
* ``"validation_scores"``: a score :class:`VLAP.training.monitors.ValidationScores`
  adds to the epoch logs for early stopping (not a report row);
* ``"epoch_logs"`` (yours): a value a Keras callback of yours writes to the
  epoch logs, registered only so that a checkpoint monitor knows its direction
  (not a report row);
* ``"arrays"`` (yours): ``compute(y_true, decisions, scores) -> float`` on
  every example at once;
* ``"confusion"`` (yours): ``compute(tp, fp, tn, fn) -> float`` on the
  per-label counts, so it streams in O(num_labels) memory.

What it averages over (``averaged_over``), as the report computes it today:

* ``"labels"``: the mean of the per-label scores over *every* label; a label
  with no positive and no prediction scores 0 (scikit-learn's
  ``zero_division=0``);
* ``"labels_by_support"``: per-label scores weighted by their number of
  positives (labels without positives weigh 0);
* ``"labels_with_both"``: the mean over the labels with at least one positive
  *and* one negative example in ``y_true`` (the others are left out, with a
  warning; NaN when none is left);
* ``"labels_with_positives"``: the mean over the labels with at least one
  positive example in ``y_true`` (the ``*_present`` rows: the labels without
  one are left out, named once in the report's warning and
  ``attrs["labels_without_positives"]``; NaN when none is left);
* ``"entries"``: every (example, label) entry pooled;
* ``"examples"``: the mean over examples (an example with no true and no
  predicted label scores 0 in the ``*_samples`` averages);
* ``None``: a metric of yours (whatever its function does).

Example:
>>> from VLAP.evaluation.metric_table import get_metric, report_metrics
>>> m = get_metric("hamming_loss")
>>> m.higher_is_better, m.header, m.computed_by, m.averaged_over
(False, 'Hamming loss', 'counts', 'entries')
>>> [m.name for m in report_metrics(ks=(2,))][-8:-5]
['precision_at_2', 'recall_at_2', 'ndcg_at_2']
>>> get_metric("ndcg_at_10").header
'nDCG@10'
>>> monitor_higher_is_better("val_f1_macro"), monitor_higher_is_better("val_loss")
(True, False)
"""

import dataclasses
import difflib
import numbers
import re
from typing import Callable, Optional

from VLAP.evaluation.ranking import DEFAULT_KS

__all__ = [
    "AVERAGED_OVER", "COMPUTED_BY", "MONITOR_METRICS", "Metric", "MetricSelection", "check_ks",
    "check_metrics", "get_metric", "monitor_higher_is_better", "register_metric",
    "registered_metrics", "report_metrics", "select_metrics", "unregister_metric",
]

#: How a metric is computed: the built-in paths, then the three kinds a user adds.
COMPUTED_BY = ("counts", "label_ranking", "example_ranking", "validation_scores",
               "epoch_logs", "arrays", "confusion")
_REPORT_PATHS = COMPUTED_BY[:3]  # the report's built-in rows
_NO_COMPUTE = COMPUTED_BY[:5]  # computed elsewhere: no `compute` of its own
_IN_REPORT = COMPUTED_BY[5:]  # yours, computed by the evaluator from `compute`
_REGISTRABLE = COMPUTED_BY[4:]

#: What a metric averages over (see the module docstring).
AVERAGED_OVER = ("labels", "labels_by_support", "labels_with_both", "labels_with_positives",
                 "entries", "examples")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric: name, computation, direction, table header, averaging.

    Args:
        name: str. The report's row name (a Python identifier). Built-in
            ``@k`` metrics are templates with ``{k}``.
        compute: callable or None. Yours: ``compute(y_true, decisions, scores)
            -> float`` (``computed_by="arrays"``, the default) with NumPy arrays
            of shape ``(n_samples, num_labels)``: 0/1 labels and decisions as
            ``uint8``, probabilities as float32 or float64; or ``compute(tp,
            fp, tn, fn) -> float`` (``computed_by="confusion"``) with the
            per-label counts, int64 arrays of shape ``(num_labels,)``. None for
            the built-in metrics, which their path computes.
        higher_is_better: bool or None. True: maximised (early stopping keeps
            the highest, results tables bold the highest); False: minimised;
            None: neither (no best value, and it cannot be a monitor).
        header: str or None. Its column header in results tables (default: `name`).
        averaged_over: str or None. One of :data:`AVERAGED_OVER`, or None.
        computed_by: str. One of :data:`COMPUTED_BY`: for yours `"arrays"`
            (default), `"confusion"`, or `"epoch_logs"` (a log a callback of
            yours writes, registered for its direction only; no `compute`).
        closest_to: str or None. For a metric without a direction, the metric
            whose value is its target (`mean_predicted_labels` is best closest
            to `mean_true_labels` in results tables).
        description: str. One line on what it measures.

    Example:
    >>> import numpy as np
    >>> def false_positive_rate(y_true, decisions, scores):
    ...     return float(np.sum(decisions & (1 - y_true)) / max(1, np.sum(1 - y_true)))
    >>> m = Metric("false_positive_rate", false_positive_rate, higher_is_better=False,
    ...            header="FPR")
    >>> m.computed_by, m.header
    ('arrays', 'FPR')
    """

    name: str
    compute: Optional[Callable] = None
    higher_is_better: Optional[bool] = dataclasses.field(default=None, kw_only=True)
    header: Optional[str] = dataclasses.field(default=None, kw_only=True)
    averaged_over: Optional[str] = dataclasses.field(default=None, kw_only=True)
    computed_by: str = dataclasses.field(default="arrays", kw_only=True)
    closest_to: Optional[str] = dataclasses.field(default=None, kw_only=True)
    description: str = dataclasses.field(default="", kw_only=True)

    def __post_init__(self):
        template = self.computed_by == "example_ranking" and isinstance(self.name, str)
        if not isinstance(self.name, str) or not _NAME.fullmatch(
                self.name.replace("{k}", "k") if template else self.name):
            raise ValueError("`name` must be a metric name made of letters, digits and "
                             f"underscores (a Python identifier). Received: name={self.name!r}")
        if self.computed_by not in COMPUTED_BY:
            raise ValueError(f"Invalid value for argument `computed_by`. Expected one of "
                             f"{list(COMPUTED_BY)}. Received: computed_by={self.computed_by!r}")
        if self.computed_by in _IN_REPORT and not callable(self.compute):
            raise TypeError(f"`compute` of metric {self.name!r} must be a function "
                            f"({_signature(self.computed_by)}). Received: "
                            f"compute={self.compute!r}")
        if self.computed_by in _NO_COMPUTE and self.compute is not None:
            raise ValueError(f"computed_by={self.computed_by!r} takes no `compute`; a "
                             "metric with its own `compute` uses computed_by='arrays' or "
                             f"'confusion'. Received: compute={self.compute!r}")
        if self.higher_is_better is not None and not isinstance(self.higher_is_better, bool):
            raise TypeError(f"`higher_is_better` of metric {self.name!r} must be True, "
                            f"False or None. Received: higher_is_better={self.higher_is_better!r}")
        if self.header is None:
            object.__setattr__(self, "header", self.name)
        elif not isinstance(self.header, str) or not self.header:
            raise TypeError(f"`header` of metric {self.name!r} must be a non-empty str or "
                            f"None. Received: header={self.header!r}")
        if self.averaged_over is not None and self.averaged_over not in AVERAGED_OVER:
            raise ValueError(f"Invalid value for argument `averaged_over`. Expected one of "
                             f"{list(AVERAGED_OVER)} or None. Received: "
                             f"averaged_over={self.averaged_over!r}")
        if self.closest_to is not None and self.higher_is_better is not None:
            raise ValueError(f"Metric {self.name!r}: `closest_to` is for a metric without a "
                             "direction (higher_is_better=None). Received: "
                             f"higher_is_better={self.higher_is_better!r}, "
                             f"closest_to={self.closest_to!r}")

    @property
    def per_k(self) -> bool:
        """True for a template of the ``@k`` metrics (its name holds ``{k}``)."""
        return "{k}" in self.name

    def at(self, k: int) -> "Metric":
        """The record of a ``@k`` template at cut-off ``k`` (e.g. ``precision_at_3``)."""
        return dataclasses.replace(self, name=self.name.format(k=k),
                                   header=(self.header or self.name).format(k=k))

    @property
    def best(self) -> Optional[str]:
        """``"max"``, ``"min"``, ``"closest"`` (to :attr:`closest_to`) or None."""
        if self.higher_is_better is not None:
            return "max" if self.higher_is_better else "min"
        return "closest" if self.closest_to is not None else None


def _signature(computed_by):
    return ("compute(tp, fp, tn, fn) -> float" if computed_by == "confusion"
            else "compute(y_true, decisions, scores) -> float")


# --- the table ------------------------------------------------------------------

_AVERAGE_OVER = {"micro": "entries", "macro": "labels", "weighted": "labels_by_support",
                 "samples": "examples"}


def _builtin(name, computed_by, higher_is_better, header, averaged_over, description="",
             **fields):
    return Metric(name, computed_by=computed_by, higher_is_better=higher_is_better,
                  header=header, averaged_over=averaged_over, description=description,
                  **fields)


#: The report's rows, in report order (``@k`` rows as templates): the thresholded
#: scores, mAP/AUROC and label counts first (their historical order), then the
#: ranking metrics. Each name equals scikit-learn's metric where it has one.
REPORT_METRICS = (
    *(_builtin(f"{score}_{avg}", "counts", True, f"{avg}-{title}", _AVERAGE_OVER[avg],
               f"{title} at the decisions, {avg} average")
      for score, title in (("f1", "F1"), ("precision", "precision"), ("recall", "recall"))
      for avg in ("micro", "macro", "weighted", "samples")),
    _builtin("hamming_loss", "counts", False, "Hamming loss", "entries",
             "share of wrong (example, label) decisions"),
    _builtin("subset_accuracy", "counts", True, "subset accuracy", "examples",
             "share of examples whose decisions are all right"),
    _builtin("jaccard_samples", "counts", True, "samples-Jaccard", "examples",
             "|true and predicted| / |true or predicted| per example"),
    _builtin("jaccard_macro", "counts", True, "macro-Jaccard", "labels",
             "tp / (tp + fp + fn) per label"),
    _builtin("average_precision_macro", "label_ranking", True, "mAP", "labels_with_both",
             "average precision of the scores, per label"),
    _builtin("average_precision_micro", "label_ranking", True, "micro-AP", "entries",
             "average precision of all scores pooled"),
    _builtin("roc_auc_macro", "label_ranking", True, "macro-AUROC", "labels_with_both",
             "area under the ROC curve of the scores, per label"),
    _builtin("roc_auc_micro", "label_ranking", True, "micro-AUROC", "entries",
             "area under the ROC curve of all scores pooled"),
    _builtin("label_count_mae", "counts", False, "label-count MAE", "examples",
             "mean |#predicted - #true| labels per example"),
    _builtin("label_count_accuracy", "counts", True, "label-count accuracy", "examples",
             "share of examples with as many predicted labels as true ones"),
    _builtin("mean_predicted_labels", "counts", None, "mean #pred", "examples",
             "mean number of predicted labels per example", closest_to="mean_true_labels"),
    _builtin("mean_true_labels", "counts", None, "mean #true", "examples",
             "mean number of true labels per example (a property of the data)"),
    _builtin("precision_at_{k}", "example_ranking", True, "P@{k}", "examples",
             "true labels among the k highest scores, over k"),
    _builtin("recall_at_{k}", "example_ranking", True, "R@{k}", "examples",
             "true labels among the k highest scores, over the true labels"),
    _builtin("ndcg_at_{k}", "example_ranking", True, "nDCG@{k}", "examples",
             "normalised discounted cumulative gain of the k highest scores"),
    _builtin("label_ranking_average_precision", "example_ranking", True, "LRAP", "examples",
             "label ranking average precision"),
    _builtin("coverage_error", "example_ranking", False, "coverage error", "examples",
             "how far down the ranking all true labels are covered"),
    _builtin("label_ranking_loss", "example_ranking", False, "ranking loss", "examples",
             "share of (true, false) label pairs ranked the wrong way"),
    # The same averages over one label set: the labels with a positive in the split.
    # Last, so the rows above keep their positions in every published table.
    _builtin("f1_macro_present", "counts", True, "macro-F1 (present)", "labels_with_positives",
             "F1 at the decisions per label, mean over the labels with a positive"),
    _builtin("average_precision_macro_present", "label_ranking", True, "mAP (present)",
             "labels_with_positives",
             "average precision per label, mean over the labels with a positive (a label "
             "without negatives scores 1, as in scikit-learn)"),
)

#: The scores :class:`VLAP.training.monitors.ValidationScores` adds to the epoch
#: logs as ``val_<name>`` for early stopping and the best checkpoint.
MONITOR_METRICS = (
    _builtin("f1_macro_tuned", "validation_scores", True, "tuned macro-F1", "labels",
             "macro-F1 with per-label thresholds tuned out of fold on the validation data"),
    _builtin("map", "validation_scores", True, "mAP", "labels_with_both",
             "mean average precision (the value of average_precision_macro)"),
)

_BUILT_IN = {m.name: m for m in REPORT_METRICS + MONITOR_METRICS}
_TEMPLATES = [(re.compile(re.escape(m.name).replace(r"\{k\}", r"([1-9][0-9]*)") + "$"), m)
              for m in REPORT_METRICS if m.per_k]
_REGISTRY: "dict[str, Metric]" = {}


def check_ks(ks):
    """``ks`` as a tuple of distinct positive ints, or raise naming the argument."""
    if isinstance(ks, numbers.Integral) and not isinstance(ks, bool):
        ks = (ks,)
    try:
        values = tuple(ks)
    except TypeError:
        raise TypeError(f"`ks` must be a sequence of positive ints. Received: ks={ks!r}") from None
    if not values or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1
                         for k in values) or len(set(values)) != len(values):
        raise ValueError(
            f"`ks` must be distinct positive ints (the cut-offs of precision@k, "
            f"recall@k, nDCG@k). Received: ks={ks!r}"
        )
    return tuple(int(k) for k in values)


def report_metrics(ks=DEFAULT_KS) -> "tuple[Metric, ...]":
    """The report's built-in rows for cut-offs ``ks``, in report order.

    Each ``@k`` template gives one row per ``k`` (``precision_at_1``,
    ``precision_at_3``, ... then ``recall_at_1``, ...).
    """
    ks = check_ks(ks)
    return tuple(row for m in REPORT_METRICS
                 for row in ([m.at(k) for k in ks] if m.per_k else [m]))


def _builtin_named(name):
    if name in _BUILT_IN and not _BUILT_IN[name].per_k:
        return _BUILT_IN[name]
    for pattern, template in _TEMPLATES:
        match = pattern.match(name)
        if match:
            return template.at(int(match.group(1)))
    return None


def get_metric(name: str) -> Metric:
    """The record of a metric name: a report row (any ``@k``), a monitor score or yours.

    Raises:
        ValueError: no metric has that name.
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a metric name (str). Received: name={name!r}")
    found = _builtin_named(name) or _REGISTRY.get(name)
    if found is None:
        raise ValueError(_unknown_message(name, "name"))
    return found


def _unknown_message(name, argument):
    """The error for a name no metric has: the closest name, then every valid one."""
    known = [m.name for m in REPORT_METRICS + MONITOR_METRICS] + sorted(_REGISTRY)
    candidates = [m.name for m in report_metrics()] + known
    close = difflib.get_close_matches(str(name), candidates, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"Unknown metric {name!r}.{hint} Expected one of {known} (k any positive int), "
            f"or a metric registered with register_metric. Received: {argument}={name!r}")


def register_metric(metric=None, /, *, override: bool = False, **fields):
    """Register a metric of yours, so that its name can be passed as a string.

    ``register_metric(Metric(...))`` registers a record;
    ``@register_metric(higher_is_better=..., header=...)`` above a function
    ``def name(y_true, decisions, scores)`` builds the record from it (named
    after the function; the other arguments are :class:`Metric`'s) and returns
    the function unchanged. A registered name then also gives the direction of
    a checkpoint monitor ``val_<name>`` and a results table's header.

    Args:
        metric: Metric or None. The record (call form), or None (decorator form).
        override: bool. Replace a registered metric of the same name.

    Returns:
        The registered :class:`Metric` (call form) or the decorator.

    Raises:
        ValueError: the name is a built-in metric's, or is registered already.
    """
    if metric is not None:
        if fields:
            raise TypeError(f"register_metric(Metric) takes no other fields. "
                            f"Received: {sorted(fields)}")
        if not isinstance(metric, Metric):
            raise TypeError("register_metric takes a Metric (or, as a decorator, Metric's "
                            f"fields). Received: {metric!r}")
        return _add(metric, override)

    def decorator(compute):
        _add(Metric(fields.pop("name", getattr(compute, "__name__", None)), compute,
                    **fields), override)
        return compute

    return decorator


def _add(metric, override):
    if metric.computed_by not in _REGISTRABLE:
        raise ValueError(f"Invalid value for `computed_by` of a registered metric. Expected "
                         f"one of {list(_REGISTRABLE)}. Received: "
                         f"computed_by={metric.computed_by!r}")
    if _builtin_named(metric.name) is not None:
        raise ValueError(f"{metric.name!r} is a built-in metric of the report; give yours "
                         "another name.")
    if metric.name in _REGISTRY and not override:
        raise ValueError(f"metric {metric.name!r} is already registered; pass override=True "
                         "to replace it, or unregister_metric it first.")
    _REGISTRY[metric.name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove a registered metric of yours (a KeyError when it is not registered)."""
    del _REGISTRY[name]


def registered_metrics() -> "tuple[Metric, ...]":
    """The metrics registered with :func:`register_metric`, in registration order."""
    return tuple(_REGISTRY.values())


def _as_metric(item):
    """A :class:`Metric` from a record, a registered name, a function or a metric object."""
    if isinstance(item, Metric):
        return item
    if isinstance(item, str):
        return get_metric(item)
    if callable(item):
        name = getattr(item, "name", None) or getattr(item, "__name__", None)
        if name == "<lambda>":
            name = None
        if name is None:
            raise ValueError("A metric function needs a name: wrap it as Metric('name', "
                             f"fn, higher_is_better=...). Received: {item!r}")
        return Metric(name, item, higher_is_better=getattr(item, "higher_is_better", None),
                      header=getattr(item, "header", None),
                      computed_by=getattr(item, "computed_by", "arrays"))
    raise TypeError("Each of `metrics` must be a Metric, the name of a registered metric, "
                    f"or a function compute(y_true, decisions, scores). Received: {item!r}")


def check_metrics(metrics, ks=DEFAULT_KS, ranking_bins=None) -> "tuple[Metric, ...]":
    """``metrics`` (yours, added to the report) as a tuple of :class:`Metric`.

    Args:
        metrics: None, or a sequence of :class:`Metric`, names of registered
            metrics, or functions ``f(y_true, decisions, scores) -> float``
            (named after the function; an object with `name`,
            `higher_is_better` and `header` attributes gives those too).
        ks: sequence of int. The report's cut-offs (their row names are taken).
        ranking_bins: int or None. With bins (bounded memory), only
            ``computed_by="confusion"`` metrics stream; an ``"arrays"`` metric
            would need every score and is refused.

    Raises:
        ValueError: a name repeats or is a report row's; an ``"arrays"``
            metric with ``ranking_bins``.
    """
    if metrics is None:
        return ()
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        metrics = [metrics]
    if isinstance(metrics, dict):
        raise TypeError("`metrics` must be a sequence (a list of Metric records, registered "
                        "names or functions), not a dict. Received: "
                        f"metrics={metrics!r}")
    try:
        items = list(metrics)
    except TypeError:
        raise TypeError("`metrics` must be a sequence of Metric records, registered names "
                        f"or functions. Received: metrics={metrics!r}") from None
    out = tuple(_as_metric(m) for m in items)
    taken = {m.name for m in report_metrics(ks)}
    seen = set()
    for m in out:
        if m.computed_by not in _IN_REPORT:
            raise ValueError(f"`metrics` adds metrics with their own `compute` "
                             f"(computed_by='arrays' or 'confusion'); {m.name!r} is not one "
                             f"of them. Received: computed_by={m.computed_by!r}")
        if m.name in taken or m.name in seen:
            raise ValueError(f"Metric names must be unique and not a report row's. Received "
                             f"{m.name!r} twice or as a built-in row.")
        seen.add(m.name)
        if m.computed_by == "arrays" and ranking_bins is not None:
            raise ValueError(
                f"Metric {m.name!r} needs every example's labels, decisions and scores "
                "(computed_by='arrays'), which ranking_bins (bounded memory) does not keep: "
                "use ranking_bins=None, or a metric of the per-label counts "
                f"(computed_by='confusion'). Received: ranking_bins={ranking_bins!r}")
    return out


@dataclasses.dataclass(frozen=True)
class MetricSelection:
    """What a report computes (:func:`select_metrics`): its rows, in their order.

    Attributes:
        rows: the built-in rows (:data:`REPORT_METRICS`) to compute.
        mine: the metrics of yours, computed from their ``compute``.
        order: ``rows`` and ``mine`` in the order of the report.
        ks: the cut-offs of the ``@k`` rows.
        selected: True when ``metrics`` named built-in rows (a selection);
            False for the full report (every built-in row, then yours).
    """

    rows: "tuple[Metric, ...]"
    mine: "tuple[Metric, ...]"
    order: "tuple[Metric, ...]"
    ks: "tuple[int, ...]"
    selected: bool

    def computes(self, *names: str) -> bool:
        """Whether any of the built-in rows ``names`` is in the report."""
        return any(m.name in names for m in self.rows)

    def uses(self, computed_by: str) -> bool:
        """Whether a built-in row of the report is computed by path ``computed_by``."""
        return any(m.computed_by == computed_by for m in self.rows)


def _row_named(item):
    """The built-in report row an item of `metrics` names (a str or a record), or None."""
    if isinstance(item, Metric) and item.computed_by in _REPORT_PATHS:
        row = _builtin_named(item.name)
        if row is None or row.computed_by != item.computed_by:
            raise ValueError(f"computed_by={item.computed_by!r} is the path of the report's "
                             f"own rows; {item.name!r} is not one of them. A metric of yours "
                             "uses computed_by='arrays' or 'confusion'.")
        return row
    if not isinstance(item, str):
        return None
    row = _builtin_named(item)
    if row is not None and row.computed_by not in _REPORT_PATHS:
        raise ValueError(f"{item!r} is a score the validation monitor adds to the epoch logs "
                         "(computed_by='validation_scores'), not a row of the report. "
                         f"Received: metrics=[..., {item!r}, ...]")
    if row is None and item not in _REGISTRY:
        raise ValueError(_unknown_message(item, "metrics"))
    return row


def select_metrics(metrics, ks=DEFAULT_KS, ranking_bins=None) -> MetricSelection:
    """The rows a report computes, from its ``metrics`` and ``ks`` arguments.

    ``metrics`` may name the report's own rows (names of :data:`REPORT_METRICS`,
    ``@k`` rows with any ``k``, e.g. ``"ndcg_at_10"``): the report is then a
    *selection*, only those rows in the order given, and computes only what they
    need. Its other items are metrics of yours (see :func:`check_metrics`),
    placed where they are listed. Without a built-in name the report keeps
    every built-in row (for the cut-offs ``ks``) and adds yours after them, as
    before selections existed.

    Raises:
        ValueError: an unknown name (with the closest valid one), a monitor-only
            score, a row named twice, or what :func:`check_metrics` refuses.

    Example:
    >>> sel = select_metrics(["f1_macro", "average_precision_macro", "ndcg_at_10"])
    >>> [m.name for m in sel.order], sel.ks, sel.uses("example_ranking")
    (['f1_macro', 'average_precision_macro', 'ndcg_at_10'], (10,), True)
    >>> sel.computes("average_precision_micro", "roc_auc_micro")
    False
    >>> select_metrics(["f1_macr"])
    Traceback (most recent call last):
    ...
    ValueError: Unknown metric 'f1_macr'. Did you mean 'f1_macro'? ...
    """
    ks = check_ks(ks)
    if metrics is None:
        rows = report_metrics(ks)
        return MetricSelection(rows, (), rows, ks, False)
    if isinstance(metrics, (str, Metric)) or callable(metrics):
        metrics = [metrics]
    if isinstance(metrics, dict):
        raise TypeError("`metrics` must be a sequence (a list of Metric records, metric "
                        f"names or functions), not a dict. Received: metrics={metrics!r}")
    try:
        items = list(metrics)
    except TypeError:
        raise TypeError("`metrics` must be a sequence of Metric records, metric names or "
                        f"functions. Received: metrics={metrics!r}") from None
    found = [_row_named(item) for item in items]
    rows = tuple(row for row in found if row is not None)
    mine = check_metrics([item for item, row in zip(items, found) if row is None], ks,
                         ranking_bins)
    if not rows:
        full = report_metrics(ks)
        return MetricSelection(full, mine, full + mine, ks, False)
    names = [m.name for m in rows] + [m.name for m in mine]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"Each metric can be named once in `metrics`. Received {twice} "
                         "more than once.")
    it_mine = iter(mine)
    order = tuple(row if row is not None else next(it_mine) for row in found)
    row_ks = []
    for row in rows:
        for pattern, _ in _TEMPLATES:
            match = pattern.match(row.name)
            if match and int(match.group(1)) not in row_ks:
                row_ks.append(int(match.group(1)))
    return MetricSelection(rows, mine, order, tuple(sorted(row_ks)), True)


def monitor_higher_is_better(monitor: str) -> bool:
    """Whether a training log is maximised (True) or minimised (False).

    The rule: drop one leading ``"val_"``; a name of the table (a report row, a
    score of :data:`MONITOR_METRICS`, a metric registered with
    :func:`register_metric`) has its ``higher_is_better``; otherwise a name
    ending in ``"loss"`` (``val_loss``, a loss's logged parts) is minimised.
    Anything else is an error, never a guess.

    Raises:
        ValueError: the log's direction is unknown, or it has none
            (``mean_predicted_labels``).
    """
    if not isinstance(monitor, str):
        raise TypeError(f"`monitor` must be the name of a log (str). Received: "
                        f"monitor={monitor!r}")
    name = monitor[4:] if monitor.startswith("val_") else monitor
    metric = _builtin_named(name) or _REGISTRY.get(name)
    if metric is None:
        if name.endswith("loss"):
            return False
        known = [m.name for m in REPORT_METRICS + MONITOR_METRICS
                 if m.higher_is_better is not None] + sorted(_REGISTRY)
        raise ValueError(
            "`monitor` must be a log whose direction VLAP knows: 'val_loss' (or any name "
            f"ending in 'loss', minimised) or 'val_' + one of {known} (k any positive int); "
            "for a log of your own, register it: register_metric(Metric(name, "
            "higher_is_better=..., computed_by='epoch_logs')). "
            f"Received: monitor={monitor!r}")
    if metric.higher_is_better is None:
        raise ValueError(f"`monitor` must be a log with a better direction; {name!r} has "
                         "none (higher_is_better=None), so it cannot choose the best epoch. "
                         f"Received: monitor={monitor!r}")
    return metric.higher_is_better
