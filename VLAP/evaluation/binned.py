"""AP and ROC AUC from fixed score bins, with a bound on their error.

The streaming evaluator's bounded-memory mode (``ranking_bins=B``, as
torchmetrics' ``thresholds=B``): per-label histograms of positives and of all
entries over ``B`` equal bins of [0, 1], from which AP and AUC follow with the
scores of one bin treated as tied (scikit-learn's tie rules, so the values are
exact for the binned scores), and a bound on the distance to the exact values.

Example:
>>> import numpy as np
>>> from VLAP.evaluation.binned import bin_counts, binned_ranking_scores
>>> y = np.array([[1], [0], [1], [0]])
>>> s = np.array([[0.9], [0.45], [0.4], [0.1]])
>>> ap, auc, ap_bound, auc_bound = binned_ranking_scores(*bin_counts(y, s, 2))
>>> float(auc[0]), float(auc_bound[0])  # exact AUC: 0.75, within 0.25
(0.75, 0.25)
"""

import numpy as np


def bin_counts(y_true, scores, num_bins):
    """Per-label histograms ``(positives, all)`` of shape ``(num_labels, num_bins)``.

    Bin ``b`` holds the scores in ``[b / num_bins, (b + 1) / num_bins)`` (the last
    bin includes 1).
    """
    num_labels = y_true.shape[1]
    b = np.minimum((scores * float(num_bins)).astype(np.int64), num_bins - 1)
    b += np.arange(num_labels, dtype=np.int64) * num_bins
    size = num_labels * num_bins
    total = np.bincount(b.ravel(), minlength=size)
    pos = np.bincount(b.ravel(), weights=y_true.ravel(), minlength=size)
    return (pos.astype(np.int64).reshape(num_labels, num_bins),
            total.reshape(num_labels, num_bins))


def binned_ranking_scores(pos, total):
    """AP, AUC and their error bounds from histograms (last axis: bins, ascending).

    The scores of one bin are treated as tied (scikit-learn's tie rules). The
    bounds hold for any scores that fall into these bins:

    * AUC: a positive-negative pair in the same bin counts 1/2 instead of 0 or 1,
      so ``|AUC_binned - AUC| <= sum_b pos_b neg_b / (2 P N)``;
    * AP: each positive's precision at its exact threshold lies between the
      extremes that any order inside its bin allows, ``(a + j) / (c + j + t)``
      for ``j`` in 1..pos_b, ``t`` in 0..neg_b (``a``, ``c``: positives and
      entries in higher bins); the bound sums, over positives, the largest
      distance between those extremes and the binned precision, over ``P``.

    Returns:
        ``(ap, auc, ap_bound, auc_bound)``, each of the histograms' leading shape;
        NaN where a label has no positive or no negative.
    """
    pos = np.asarray(pos, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    neg = total - pos
    P, N = pos.sum(-1), neg.sum(-1)
    # entries in strictly higher bins (descending thresholds)
    pos_above = np.flip(np.cumsum(np.flip(pos, -1), -1), -1) - pos
    all_above = np.flip(np.cumsum(np.flip(total, -1), -1), -1) - total
    neg_below = np.cumsum(neg, -1) - neg
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(total > 0, (pos_above + pos) / (all_above + total), 0.0)
        ap = (pos * prec).sum(-1) / P
        auc = (pos * (neg_below + neg / 2.0)).sum(-1) / (P * N)
        a, c = pos_above, all_above
        ends = [(a + j) / (c + j) for j in (1.0, pos)]
        lows = [(a + j) / (c + j + neg) for j in (1.0, pos)]
        hi, lo = np.maximum(*ends), np.minimum(*lows)
        dev = np.where(pos > 0, np.maximum(hi - prec, prec - lo), 0.0)
        ap_bound = (pos * dev).sum(-1) / P
        auc_bound = (pos * neg).sum(-1) / (2.0 * P * N)
    undefined = (P == 0) | (N == 0)
    return tuple(np.where(undefined, np.nan, v) for v in (ap, auc, ap_bound, auc_bound))


__all__ = ["bin_counts", "binned_ranking_scores"]
