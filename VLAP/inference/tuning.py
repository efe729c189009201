"""Choosing a decision rule on validation data, framework-free.

:func:`tune_thresholds` and :func:`tune_cut_points` pick, per label, the cut
on validation scores (probabilities or logits) that maximises that label's F1;
:func:`choose_rule` compares tuned cuts with the fixed 0.5 out of fold (what
``vlap run`` ships); :func:`resolve_rule` turns the ``threshold=`` / ``top_k=``
/ ``rule=`` arguments of :func:`VLAP.evaluation.evaluate_predictions`,
``"tuned"`` included, into a :class:`~VLAP.inference.rule.DecisionRule`.
"""

import numbers
import warnings

import numpy as np

from VLAP._arrays import check_indicator, check_scores
from VLAP._validation import check_scores as _check_scores
from VLAP.ops import core
from VLAP.ops.numpy_ops import NUMPY_OPS
from VLAP.inference.rule import DEFAULT_THRESHOLD, DecisionRule, as_logits, make_rule

#: Labels with fewer positive validation examples than this keep the default
#: cut (probability 0.5, logit 0) when thresholds are tuned: a cut chosen on one
#: to four positives follows their noise (a label tuned to 0.0002 on a handful of
#: positives predicted 594 test rows against 153 true).
MIN_TUNING_SUPPORT = 5
#: Folds of the out-of-fold comparison (:func:`choose_rule`) of tuned cuts with 0.5.
RULE_FOLDS = 5


def _best_cut(y, s, space):
    """The cut maximising F1 of ``s > cut`` on one label, and that F1.

    ``s`` are logits (``space="logit"``) or probabilities. The cut lies halfway
    between two adjacent distinct scores (the first maximum: the fewest predicted
    labels); predicting every example puts it below the lowest score: at 0 for
    probabilities (only when every score is above 0), half a logit below the lowest
    logit. So a tuned cut on logits is always finite (strictly inside (0, 1) as
    a probability) and splits the validation scores exactly as its F1 says.
    """
    n = len(s)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    f1 = 2.0 * tp / (np.arange(1, n + 1) + y.sum())
    floor = 0.0 if space == "probability" else float(s_sorted[-1]) - 1.0
    valid = np.empty(n, dtype=bool)
    valid[:-1] = s_sorted[:-1] > s_sorted[1:]
    valid[-1] = s_sorted[-1] > floor
    if not valid.any():
        return None, 0.0
    f1 = np.where(valid, f1, -1.0)
    i = int(np.argmax(f1))  # first maximum: the fewest predicted labels
    upper = float(s_sorted[i])
    lower = float(s_sorted[i + 1]) if i + 1 < n else floor
    cut = (upper + lower) / 2.0
    if not lower <= cut < upper:  # adjacent floats
        cut = lower
    return cut, float(f1[i])


def _check_logits(logits, name, shape, like):
    return _check_scores(logits, name, shape=shape, like=like, probabilities=False)


def _check_min_support(min_support):
    if isinstance(min_support, bool) or not isinstance(min_support, numbers.Integral) \
            or min_support < 1:
        raise ValueError("`min_support` must be an int >= 1 (positive validation examples "
                         f"a label needs to be tuned). Received: min_support={min_support!r}")
    return int(min_support)


def _check_from_logits(from_logits):
    if not isinstance(from_logits, bool):
        raise TypeError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
    return from_logits


def _validation_logits(logits_val, from_logits, shape):
    """Validation outputs as finite float64 logits (probabilities are clipped first)."""
    if _check_from_logits(from_logits):
        return _check_logits(logits_val, "logits_val", shape, "y_val")
    return as_logits(check_scores(logits_val, "logits_val", shape, "y_val"), False)


def _tune(y_val, s_val, space, min_support, warn=True):
    default = 0.0 if space == "logit" else DEFAULT_THRESHOLD
    few = y_val.sum(0) < min_support
    if few.any() and warn:
        warnings.warn(
            f"{int(few.sum())} of {y_val.shape[1]} labels have fewer than {min_support} "
            f"positive example{'s' if min_support > 1 else ''} in `y_val`; they keep the "
            f"default threshold {DEFAULT_THRESHOLD}.", UserWarning, stacklevel=3)
    cuts = np.full(y_val.shape[1], default)
    for j in np.flatnonzero(~few):
        cut = _best_cut(y_val[:, j], s_val[:, j], space)[0]
        cuts[j] = default if cut is None else cut
    return cuts


def tune_thresholds(y_val, scores_val, *, min_support: int = 1) -> np.ndarray:
    """Per-label thresholds that maximise each label's F1 on validation probabilities.

    Each label's threshold sits halfway between the two validation scores where
    its F1 (of ``scores > threshold``) is highest; ties go to the higher
    threshold (fewer predictions). Labels with fewer than `min_support`
    positive examples in `y_val` keep the default 0.5 (with a warning). With a
    model's logits at hand, use :func:`tune_cut_points` (what `vlap run` and
    :func:`VLAP.inference.package_model` do): probabilities of large logits
    round to 0 or 1 and can no longer be split.

    Args:
        y_val: array of shape `(n_samples, num_labels)`. 0/1 validation labels.
        scores_val: array of the same shape. Validation probabilities in [0, 1].
        min_support: int. Positive validation examples a label needs to be tuned.

    Returns:
        np.ndarray of shape `(num_labels,)`: the thresholds.

    Example:
    >>> import VLAP
    >>> y_val = [[1, 0], [1, 1], [0, 1], [0, 0]]
    >>> scores_val = [[0.4, 0.9], [0.3, 0.6], [0.2, 0.7], [0.1, 0.8]]
    >>> [round(float(t), 4) for t in VLAP.inference.tune_thresholds(y_val, scores_val)]
    [0.25, 0.3]
    """
    y_val = check_indicator(y_val, "y_val")
    scores_val = check_scores(scores_val, "scores_val", y_val.shape, "y_val")
    return _tune(y_val, scores_val, "probability", _check_min_support(min_support))


def tune_cut_points(y_val, logits_val, *, min_support: int = MIN_TUNING_SUPPORT,
                    from_logits: bool = True) -> np.ndarray:
    """Per-label cut points on the logits that maximise each label's validation F1.

    The rule of :func:`tune_thresholds`, on logits: each cut lies halfway
    between two adjacent validation logits, so it is finite (strictly inside
    (0, 1) as a probability) whatever the logits, and labels with fewer than
    `min_support` positive validation examples keep the cut 0 (probability
    0.5). A label is predicted when ``logit > cut``.

    Args:
        y_val: array `(n_samples, num_labels)`. 0/1 validation labels.
        logits_val: array of the same shape. The model's validation logits.
        min_support: int. Positive validation examples a label needs to be
            tuned (default :data:`MIN_TUNING_SUPPORT`).
        from_logits: bool. `False`: `logits_val` are probabilities, tuned on
            their (clipped) logits.

    Returns:
        np.ndarray of shape `(num_labels,)` of float64 logits.

    Example:
    >>> from VLAP.inference.tuning import tune_cut_points
    >>> y_val = [[1, 0], [1, 1], [0, 1], [0, 0]]
    >>> logits = [[30.0, 2.0], [25.0, -1.0], [-3.0, 1.0], [-4.0, 0.5]]
    >>> tune_cut_points(y_val, logits, min_support=2).tolist()
    [11.0, -1.5]
    """
    y_val = check_indicator(y_val, "y_val")
    logits_val = _validation_logits(logits_val, from_logits, y_val.shape)
    return _tune(y_val, logits_val, "logit", _check_min_support(min_support))


def _macro_f1(y, p):
    """Macro-F1 (zero_division=0) of 0/1 decisions, on VLAP's one counting path."""
    counts = [c.astype(np.float64) for c in core.confusion_counts(
        NUMPY_OPS, np.asarray(y, np.uint8), np.asarray(p, np.uint8))]
    return float(core.reduce_score(NUMPY_OPS, "fbeta", *counts, average="macro",
                                   epsilon=np.finfo(np.float64).tiny))


def _check_folds(folds):
    if isinstance(folds, bool) or not isinstance(folds, numbers.Integral) or folds < 2:
        raise ValueError(f"`folds` must be an int >= 2. Received: folds={folds!r}")
    return int(folds)


def _tuned_oof(y_val, logits_val, min_support, folds, seed):
    """Macro-F1 of per-label cuts scored out of fold (None: fewer than two rows per part)."""
    n = y_val.shape[0]
    if n < 2 * folds:
        return None
    part = np.random.default_rng(seed).permutation(n) % folds
    decided = np.zeros(y_val.shape, dtype=np.uint8)
    for f in range(folds):
        rows = part == f
        cuts = _tune(y_val[~rows], logits_val[~rows], "logit", min_support, warn=False)
        decided[rows] = logits_val[rows] > cuts
    return _macro_f1(y_val, decided)


def tuned_macro_f1_oof(y_val, logits_val, *, min_support: int = MIN_TUNING_SUPPORT,
                       folds: int = RULE_FOLDS, seed: int = 0,
                       from_logits: bool = True) -> "float | None":
    """Validation macro-F1 of tuned per-label cuts, out of fold: :func:`choose_rule`'s figure.

    The rows are dealt into `folds` parts; each part is decided with cuts tuned
    (:func:`tune_cut_points`' rule) on the other parts. This is the estimate by
    which :func:`choose_rule` prefers tuned cuts to 0.5, and the per-epoch
    ``val_f1_macro_tuned`` of :mod:`VLAP.training.monitors`, so that the epoch
    kept for tuned cuts and the rule shipped are chosen by one figure.

    Returns:
        float, or None when there are fewer than two rows per part.

    Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random((300, 3)) < 0.3).astype(int)
    >>> logits = 2.0 * y - 2.5 + rng.normal(size=y.shape)
    >>> tuned_macro_f1_oof(y, logits) == choose_rule(y, logits)["val_f1_macro_tuned_oof"]
    True
    """
    y_val = check_indicator(y_val, "y_val")
    logits_val = _validation_logits(logits_val, from_logits, y_val.shape)
    return _tuned_oof(y_val, logits_val, _check_min_support(min_support), _check_folds(folds),
                      seed)


def choose_rule(y_val, logits_val, *, min_support: int = MIN_TUNING_SUPPORT,
                folds: int = RULE_FOLDS, seed: int = 0, from_logits: bool = True) -> dict:
    """Tuned per-label cuts or the fixed 0.5, chosen on validation data only.

    Cuts tuned on the validation split always beat 0.5 *on that split*, so the
    comparison is made out of fold: the validation rows are dealt into `folds`
    parts; each part is decided with cuts tuned on the other parts, and the
    macro-F1 of those out-of-fold decisions is compared with the macro-F1 at
    0.5 on the same rows. Tuned cuts (then tuned on the whole validation split,
    :func:`tune_cut_points`) are chosen only when they score strictly higher;
    fewer than two rows per part keep 0.5.

    Args:
        y_val: array `(n_samples, num_labels)`. 0/1 validation labels.
        logits_val: array of the same shape. Validation logits.
        min_support: int. As :func:`tune_cut_points`.
        folds: int. Parts of the out-of-fold comparison.
        seed: int. Seeds the dealing of rows into parts.
        from_logits: bool. `False`: `logits_val` are probabilities (compared
            on their clipped logits).

    Returns:
        dict with `strategy` ("tuned" or "fixed"), `cut_points` (list of
        logits), `val_f1_macro_fixed` (at 0.5), `val_f1_macro_tuned_oof` (out of
        fold; None when too few rows), `min_support` and `folds`.
        :func:`rule_of` turns it into a :class:`DecisionRule`.

    Example:
    >>> import numpy as np
    >>> from VLAP.inference.tuning import choose_rule
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random((300, 3)) < 0.3).astype(int)
    >>> logits = 2.0 * y - 2.5 + rng.normal(size=y.shape)  # 0.5 predicts too little
    >>> rule = choose_rule(y, logits)
    >>> rule["strategy"], rule["val_f1_macro_tuned_oof"] > rule["val_f1_macro_fixed"]
    ('tuned', True)
    """
    y_val = check_indicator(y_val, "y_val")
    logits_val = _validation_logits(logits_val, from_logits, y_val.shape)
    min_support = _check_min_support(min_support)
    folds = _check_folds(folds)
    num_labels = y_val.shape[1]
    fixed = _macro_f1(y_val, logits_val > 0.0)
    out = {"strategy": "fixed", "cut_points": [0.0] * num_labels,
           "val_f1_macro_fixed": fixed, "val_f1_macro_tuned_oof": None,
           "min_support": min_support, "folds": int(folds)}
    out["val_f1_macro_tuned_oof"] = _tuned_oof(y_val, logits_val, min_support, folds, seed)
    if out["val_f1_macro_tuned_oof"] is not None and out["val_f1_macro_tuned_oof"] > fixed:
        cuts = _tune(y_val, logits_val, "logit", min_support, warn=False)
        out.update(strategy="tuned", cut_points=[float(c) for c in cuts])
    return out


def choose_epoch_rule(y_val, logits_at_fixed, logits_at_tuned, *,
                      min_support: int = MIN_TUNING_SUPPORT, folds: int = RULE_FOLDS,
                      seed: int = 0, from_logits: bool = True) -> dict:
    """The (epoch, rule) pair to ship, when each rule has its own best epoch.

    A model trained with one best checkpoint per rule (``monitor=["val_f1_macro_tuned",
    "val_f1_macro"]``) offers two pairs: the weights of its best epoch at 0.5,
    decided at 0.5, and the weights of its best epoch with tuned cuts, decided
    with cuts tuned on the validation split. They are compared as
    :func:`choose_rule` compares the two rules of one model: the macro-F1 at 0.5
    (of the first weights) against the out-of-fold tuned macro-F1 (of the
    second); tuned cuts only when strictly higher. Given the same outputs twice
    it returns :func:`choose_rule`'s record.

    Args:
        y_val: array `(n_samples, num_labels)`. 0/1 validation labels.
        logits_at_fixed: validation outputs of the weights kept for the 0.5 rule.
        logits_at_tuned: validation outputs of the weights kept for tuned cuts.
        min_support, folds, seed, from_logits: as :func:`choose_rule`.

    Returns:
        :func:`choose_rule`'s record (``strategy``, ``cut_points``,
        ``val_f1_macro_fixed`` of the first weights, ``val_f1_macro_tuned_oof`` of
        the second, ...) plus ``weights``: ``"fixed"`` or ``"tuned"``, whose
        best epoch ships.

    Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random((300, 3)) < 0.3).astype(int)
    >>> early = 2.0 * y - 2.5 + rng.normal(size=y.shape)  # ranks well, 0.5 predicts little
    >>> late = 0.5 * y - 0.2 + rng.normal(size=y.shape)   # ranks worse
    >>> pair = choose_epoch_rule(y, late, early)
    >>> pair["weights"], pair["strategy"]
    ('tuned', 'tuned')
    """
    fixed = choose_rule(y_val, logits_at_fixed, min_support=min_support, folds=folds, seed=seed,
                        from_logits=from_logits)
    tuned = (fixed if logits_at_tuned is logits_at_fixed else
             choose_rule(y_val, logits_at_tuned, min_support=min_support, folds=folds,
                         seed=seed, from_logits=from_logits))
    at_fixed, oof = fixed["val_f1_macro_fixed"], tuned["val_f1_macro_tuned_oof"]
    if oof is not None and oof > at_fixed:
        cuts = tuned["cut_points"] if tuned["strategy"] == "tuned" else [
            float(c) for c in tune_cut_points(y_val, logits_at_tuned, min_support=min_support,
                                              from_logits=from_logits)]
        return dict(tuned, strategy="tuned", cut_points=cuts, val_f1_macro_fixed=at_fixed,
                    weights="tuned")
    return dict(fixed, strategy="fixed", cut_points=[0.0] * len(fixed["cut_points"]),
                val_f1_macro_tuned_oof=oof, weights="fixed")


def rule_of(record: dict) -> DecisionRule:
    """The :class:`DecisionRule` of a :func:`choose_rule` record.

    Example:
    >>> rule_of({"strategy": "fixed", "cut_points": [0.0, 0.0]}).strategy
    'fixed'
    """
    return DecisionRule.cut_points(record["cut_points"], strategy=record["strategy"])


def resolve_rule(threshold=DEFAULT_THRESHOLD, top_k: "int | None" = None, *,
                 rule: "DecisionRule | None" = None, num_labels: int, y_val=None,
                 scores_val=None) -> DecisionRule:
    """The rule of `evaluate_predictions`' arguments, checked for `num_labels` labels.

    ``threshold="tuned"`` tunes per-label thresholds on `y_val` and
    `scores_val` (:func:`tune_thresholds`, labels with fewer than
    :data:`MIN_TUNING_SUPPORT` positives keep 0.5); anything else goes to
    :func:`~VLAP.inference.rule.make_rule`.
    """
    uses_val = isinstance(threshold, str) and top_k is None and rule is None
    if not uses_val and (y_val is not None or scores_val is not None):
        warnings.warn(
            "`y_val` / `scores_val` (or `val_data`) are only used with "
            "threshold='tuned'; they are ignored.", UserWarning, stacklevel=3,
        )
    if uses_val and threshold == "tuned":
        if y_val is None or scores_val is None:
            raise ValueError(
                "threshold='tuned' chooses per-label thresholds on validation data: "
                "pass `val_data` to `evaluate` (or `y_val` and `scores_val` to "
                "`evaluate_predictions`). Received: "
                f"y_val={'None' if y_val is None else 'array'}, "
                f"scores_val={'None' if scores_val is None else 'array'}"
            )
        y_val = check_indicator(y_val, "y_val")
        if y_val.shape[1] != num_labels:
            raise ValueError(
                f"`y_val` must have num_labels={num_labels} columns, as `y_true`. "
                f"Received: y_val.shape={y_val.shape}"
            )
        return DecisionRule.per_label(
            tune_thresholds(y_val, scores_val, min_support=MIN_TUNING_SUPPORT), strategy="tuned")
    return make_rule(threshold, top_k, rule=rule).for_labels(num_labels)


__all__ = ["MIN_TUNING_SUPPORT", "RULE_FOLDS", "choose_rule", "choose_epoch_rule",
           "resolve_rule", "rule_of", "tune_cut_points", "tune_thresholds",
           "tuned_macro_f1_oof"]
