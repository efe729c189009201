"""Ranking metrics from sorted scores, exact as scikit-learn, near the cost of a sort.

Scores in [0, 1] are packed with their label into one unsigned integer *key*
(``float bits << 1 | y``: the bits of a non-negative float sort as the float
does), so one NumPy sort of the keys orders the scores and carries the labels
along. A run of equal scores (a *group*) holds its negatives first, then its
positives, and everything the metrics need follows from each positive's group:
its start, the first positive in it and its end, found by binary search only for
positives whose neighbour has the same score.

* :func:`label_ranking_scores`: per-label average precision and ROC AUC, one
  sort per label, in label chunks (bounded memory). Ties exactly as
  scikit-learn: AP is its step-wise precision at distinct thresholds
  (``average_precision_score``), AUC the trapezoid over distinct thresholds
  (``roc_auc_score``), that is, a tied positive-negative pair counts one half.
* :func:`micro_ranking_scores`: the same on all entries pooled (``average="micro"``),
  from one in-place sort of the keys (no flattened copy of the scores), each
  tied positive's group found by a search near it (:func:`sorted_micro_scores`).
  :func:`merged_micro_scores` gets the same from per-label sorted keys by a
  merge (a sample sort in cache-sized pieces): faster than the one sort only
  when the keys are many per label and the labels few (1,000 labels x 100,000
  examples and more, BENCHMARKS.md), where the report uses it
  (:func:`row_sorted_micro_scores`).
* :class:`ExampleRankingSums`: per-example ranking metrics, streamable (row
  chunks): precision@k, recall@k, nDCG@k, label ranking average precision,
  coverage error and ranking loss, from one sort of each example's keys.

Every path finds the positives' groups of tied scores from their neighbours
first, and searches (a short bisection near the positive, or in its row) only
for the positives that are tied.

The binned (fixed thresholds) AP and AUC are in :mod:`VLAP.evaluation.binned`.

Against scikit-learn (tested to 1e-9, ties included):

* ``average_precision_*``, ``roc_auc_*``, ``label_ranking_average_precision``
  (``label_ranking_average_precision_score``), ``coverage_error`` and
  ``label_ranking_loss`` equal scikit-learn's, whatever the ties;
* ``ndcg_at_k`` equals ``ndcg_score(y_true, scores, k=k)`` (its default
  ``ignore_ties=False``: tied labels share their average gain);
* ``precision_at_k`` and ``recall_at_k`` have no scikit-learn counterpart. Ties
  are averaged the same way: a group of ``g`` tied labels of which ``m`` fit
  in the top ``k`` counts ``m / g`` of each of its positives, where
  implementations that take ``argsort(-scores)[:, :k]`` (LibMultiLabel, the
  ``top_k`` threshold strategy) break ties by position. Without ties both agree.
  recall@k and nDCG@k are 0 for an example without positives.

Example:
>>> import numpy as np
>>> from VLAP.evaluation.ranking import label_ranking_scores
>>> y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.uint8)
>>> s = np.array([[0.9, 0.2], [0.4, 0.2], [0.4, 0.7], [0.1, 0.3]])
>>> ap, auc = label_ranking_scores(y, s)
>>> [round(float(v), 4) for v in ap], [round(float(v), 4) for v in auc]
([0.8333, 0.75], [0.875, 0.625])
"""

import numpy as np

CHUNK_ELEMENTS = 1 << 22
#: Keys per piece of the merge behind the micro average (a few MB: sorted in cache).
MERGE_ELEMENTS = 1 << 22
#: Up to this many label slices, a piece of the merge is gathered slice by slice.
SLICE_ROWS = 4096
#: The report merges the per-label sorted keys for the micro average (instead of one
#: sort of all of them) from this many keys per label, up to MERGE_MAX_ROWS labels.
MERGE_MIN_ROW = 1 << 16
MERGE_MAX_ROWS = 1024
#: How far below a tied positive its group's start is bisected for before galloping
#: further down (a power of 2).
TIE_WINDOW = 32
DEFAULT_KS = (1, 3, 5)


# --- keys -------------------------------------------------------------------


def key_dtype(score_dtype):
    """The unsigned key type for scores of ``score_dtype`` (float32 or float64)."""
    return np.uint32 if np.dtype(score_dtype) == np.float32 else np.uint64


def pack_keys(scores, y, out=None):
    """``bits(score) << 1 | y``: sorts by score, then negatives before positives.

    ``scores`` are float32 or float64 in [0, 1] (``-0.0`` packs as ``0.0``:
    its sign bit is shifted out); ``y`` is 0/1 of the same shape.
    """
    kd = key_dtype(scores.dtype)
    bits = scores.view(kd) if scores.dtype.itemsize == kd().itemsize else \
        scores.astype(np.float64).view(np.uint64)
    out = np.left_shift(bits, kd(1), out=out)
    if y.dtype not in (np.bool_, np.uint8):  # these two are cast as they are read
        y = y.astype(kd, copy=False)
    return np.bitwise_or(out, y, out=out)


# --- exact sums over the positives of a sorted key array -------------------------


def _positive_sums(keys, lo, hi, positives_before, total_positives, offset=0, n_total=None):
    """Sums over the positives in ``keys[lo:hi]`` of a sorted 1-D key array.

    Returns ``(precision_sum, auc2_sum, n_positives)`` where each positive
    adds the precision at its group's threshold (for AP) and twice its AUC
    credit (negatives strictly below its group, plus half those in its group).
    ``keys`` may be one piece of a longer sorted order that no group of equal
    scores crosses: ``offset`` entries come before it, ``n_total`` in all
    (default: ``keys`` is the whole order).
    """
    local = _odd_positions(keys[lo:hi])
    if not len(local):
        return 0.0, 0, 0
    i = local + lo
    k = keys[i]
    n = len(keys)
    # positives of one score are adjacent (after that score's negatives): the first
    # of each run is its group's first positive, and only it needs the group's start
    new = np.ones(len(i), dtype=bool)
    new[1:] = k[1:] != k[:-1]
    run = np.cumsum(new) - 1
    firsts = i[new]
    first_pos = firsts.copy()
    if firsts[0] > 0 and keys[firsts[0] - 1] == k[0]:  # a run begun before `lo`
        first_pos[0] = _first_at_least(keys, firsts[:1], k[:1])[0]
    first_pos = first_pos[run]
    starts = firsts.copy()
    behind = firsts > 0
    behind[behind] = (keys[firsts[behind] - 1] >> 1) == (k[new][behind] >> 1)
    if behind.any():  # negatives of the same score below: find where they start
        starts[behind] = _first_at_least(keys, firsts[behind], k[new][behind] - 1)
    start = starts[run]
    rank = positives_before + np.arange(len(i), dtype=np.int64)
    start = start + offset
    pos_below = rank - (i - first_pos)  # positives with a strictly lower score
    neg_below = start - pos_below
    neg_in_group = first_pos - (start - offset)
    precision = (total_positives - pos_below) / ((n if n_total is None else n_total) - start)
    return float(precision.sum()), int((2 * neg_below + neg_in_group).sum()), len(i)


def _first_at_least(keys, i, target):
    """The first index ``j <= i`` with ``keys[j] >= target`` (``keys[i] >= target``).

    ``keys`` is 1-D and sorted. Where the key :data:`TIE_WINDOW` places below
    ``i`` is still below ``target`` (a group of equal scores is usually
    shorter), a bisection of that window (``log2`` of it, reads near ``i``);
    elsewhere galloping down from there (:func:`_gallop`). Either way a few
    reads near ``i``, where a binary search of the whole array would cost
    ``log2(len(keys))`` scattered reads.
    """
    i = i.astype(np.int64, copy=False)
    lo = i - TIE_WINDOW
    near = lo >= 0
    near[near] = keys[lo[near]] < target[near]
    hi = i.copy()
    inside = np.flatnonzero(near)
    if len(inside):
        lo_, hi_, t = lo[inside], i[inside], target[inside]  # keys[lo_] < t <= keys[hi_]
        for _ in range(TIE_WINDOW.bit_length() - 1):
            mid = (lo_ + hi_) >> 1
            ge = keys[mid] >= t
            hi_ = np.where(ge, mid, hi_)
            lo_ = np.where(ge, lo_, mid)
        hi[inside] = hi_
    far = np.flatnonzero(~near)
    if len(far):
        hi[far] = _gallop(keys, np.where(lo[far] >= 0, lo[far], i[far]), target[far])
    return hi


def _gallop(keys, i, target):
    """:func:`_first_at_least` by galloping down from ``i``, then bisection."""
    hi = i.astype(np.int64, copy=True)  # keys[hi] >= target
    lo = np.full(len(hi), -1, dtype=np.int64)  # keys[lo] < target, or lo = -1
    active = np.arange(len(hi))
    step = 1
    while len(active):
        cand = hi[active] - step
        ok = cand >= 0
        ok[ok] = keys[cand[ok]] >= target[active[ok]]
        hi[active[ok]] = cand[ok]
        lo[active[~ok]] = np.maximum(cand[~ok], -1)
        active = active[ok]
        step *= 2
    while True:
        open_ = np.flatnonzero(hi - lo > 1)
        if not len(open_):
            return hi
        mid = (lo[open_] + hi[open_]) // 2
        ge = keys[mid] >= target[open_]
        hi[open_[ge]] = mid[ge]
        lo[open_[~ge]] = mid[~ge]


def _from_sums(precision_sum, auc2_sum, positives, n):
    negatives = n - positives
    if positives == 0 or negatives == 0:
        return np.nan, np.nan
    return precision_sum / positives, auc2_sum / (2.0 * positives * negatives)


def _sorted_rows_ap_auc(keys):
    """AP and ROC AUC of every row of a row-sorted key matrix (NaN if undefined)."""
    rows, n = keys.shape
    f, r, c = _positions(keys)
    positives = np.bincount(r, minlength=rows).astype(np.int64)
    first_of_row = np.concatenate([[0], np.cumsum(positives)[:-1]])
    below = np.arange(len(r)) - first_of_row[r]
    start, first_pos, _ = _tie_groups(keys, f, r, c)
    pos_below = below - (c - first_pos)  # positives with a strictly lower score
    precision = (positives[r] - pos_below) / (n - start)
    auc2 = 2 * (start - pos_below) + (first_pos - start)
    negatives = n - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = np.bincount(r, weights=precision, minlength=rows) / positives
        auc = np.bincount(r, weights=auc2, minlength=rows) / (2.0 * positives * negatives)
    undefined = (positives == 0) | (negatives == 0)
    return np.where(undefined, np.nan, ap), np.where(undefined, np.nan, auc)


def sorted_label_scores(keys_by_label):
    """AP and AUC per row of ``keys_by_label`` (one label per row, sorted in place).

    Sorts each row (a label's keys over all examples) in place, in chunks.
    Labels without a positive or without a negative get NaN.
    """
    num_labels, n = keys_by_label.shape
    ap, auc = np.full(num_labels, np.nan), np.full(num_labels, np.nan)
    step = max(1, CHUNK_ELEMENTS // max(1, n))
    for j0 in range(0, num_labels, step):
        block = keys_by_label[j0:j0 + step]
        block.sort(axis=1)
        ap[j0:j0 + len(block)], auc[j0:j0 + len(block)] = _sorted_rows_ap_auc(block)
    return ap, auc


def transposed_keys(blocks, num_labels):
    """One ``(num_labels, n)`` key matrix from ``(y, scores)`` row blocks.

    Packs 512 examples at a time in their own (row-major) layout, where the
    shift and the ``| y`` run on contiguous memory, then writes them out
    transposed in tiles of 128 labels, which stay in cache while they are
    copied (about 2.5x the speed of packing transposed tiles, which is about
    twice NumPy's strided copy).
    """
    n = sum(len(y) for y, _ in blocks)
    kd = np.uint32 if all(s.dtype == np.float32 for _, s in blocks) else np.uint64
    keys = np.empty((num_labels, n), dtype=kd)
    buf = None
    r0 = 0
    for y, s in blocks:
        for i in range(0, len(y), 512):
            rows = s[i:i + 512]
            if kd is np.uint64:
                rows = rows.astype(np.float64, copy=False)
            if buf is None or len(buf) != len(rows):
                buf = np.empty((len(rows), num_labels), dtype=kd)
            pack_keys(rows, y[i:i + 512], out=buf)
            out_rows = slice(r0 + i, r0 + i + len(rows))
            for j0 in range(0, num_labels, 128):
                keys[j0:j0 + 128, out_rows] = buf[:, j0:j0 + 128].T
        r0 += len(y)
    return keys


def label_ranking_scores(y_true, scores):
    """Per-label average precision and ROC AUC, exact as scikit-learn.

    Args:
        y_true: 0/1 array of shape ``(n, num_labels)``.
        scores: float32 or float64 array of the same shape, in [0, 1].

    Returns:
        ``(ap, auc)``: two float64 arrays of shape ``(num_labels,)``; NaN for a
        label without a positive or without a negative.
    """
    keys = transposed_keys([(y_true, scores)], y_true.shape[1])
    return sorted_label_scores(keys)


def sorted_micro_scores(keys, total_positives=None):
    """Micro AP and AUC of a key array, sorted here in place (any shape).

    ``total_positives`` (the number of odd keys) is counted when not given.
    One sort of all the keys (in place: no extra memory); as fast as merging
    per-label sorted keys with :func:`merged_micro_scores` at 1,000 labels, and
    faster with many labels (BENCHMARKS.md).
    """
    flat = keys.reshape(-1)
    flat.sort()
    n = len(flat)
    total = total_positives
    if total is None:
        total = _count_odd(flat)
    p_sum, a_sum, seen = 0.0, 0, 0
    for lo in range(0, n, CHUNK_ELEMENTS):
        ps, a2, pos = _positive_sums(flat, lo, min(lo + CHUNK_ELEMENTS, n), seen, total)
        p_sum, a_sum, seen = p_sum + ps, a_sum + a2, seen + pos
    return _from_sums(p_sum, a_sum, total, n)


def _count_odd(flat):
    return sum(int(np.count_nonzero(flat[lo:lo + CHUNK_ELEMENTS] & 1))
               for lo in range(0, len(flat), CHUNK_ELEMENTS))


def merged_micro_scores(keys, total_positives=None, *, chunk_elements=MERGE_ELEMENTS):
    """Micro AP and AUC of a key matrix whose every row is sorted (a merge; no full sort).

    The pooled order is cut at sampled scores into pieces of about
    ``chunk_elements`` entries (a sample sort): every row is sorted, so a
    piece is one slice of each row, found by binary search; each piece is
    gathered and sorted on its own, in cache. The cuts fall between scores,
    never inside a group of equal scores, so each positive's group lies in one
    piece, and the entries and positives of the pieces below give its global
    rank. A score met by more than a piece's share of the sample is a piece of
    its own ``[score << 1, score << 1 | 1]``: its negatives and positives are
    counted from the row slices, without gathering them. ``keys`` is left as it is.

    Args:
        keys: ``(rows, n)`` key array (:func:`pack_keys`), each row sorted.
        total_positives: int or None. The number of odd keys (counted when None).
        chunk_elements: int. The size a piece aims at (bounds the extra memory).

    Returns:
        ``(ap, auc)``, NaN for both without a positive or a negative key.
    """
    keys = keys.reshape(-1, keys.shape[-1]) if keys.ndim != 2 else keys
    rows, n = keys.shape
    n_total = rows * n
    total = _count_odd(keys.reshape(-1)) if total_positives is None else int(total_positives)
    if total == 0 or total == n_total:
        return np.nan, np.nan
    # sample every `stride`-th key of each row: at most `stride` keys of a row lie
    # strictly between two neighbouring sample values, so a piece between cut scores
    # holds at most about (per_piece + rows) * stride keys
    stride = max(1, chunk_elements // (2 * rows))
    per_piece = max(1, chunk_elements // (2 * stride))
    sample = np.sort(keys[:, ::stride], axis=None) >> 1
    cut = np.unique(sample[per_piece::per_piece])  # scores that start a piece
    kd = keys.dtype.type
    one = kd(1)
    # per cut score v: queries 2v (its negatives start), 2v + 1 (its positives), 2v + 2
    queries = np.stack([cut << one, (cut << one) | one, (cut + one) << one], axis=1).reshape(-1)
    at = np.empty((rows, len(queries)), dtype=np.int64)
    for j in range(rows):
        at[j] = np.searchsorted(keys[j], queries)
    before = at.sum(axis=0)  # entries below each query, pooled
    zeros = np.zeros(rows, dtype=np.int64)
    p_sum, a_sum, seen = 0.0, 0, 0

    def gathered(lo_at, hi_at, offset):
        nonlocal p_sum, a_sum, seen
        if int(hi_at.sum() - lo_at.sum()) == 0:
            return
        piece = _gather(keys, lo_at, hi_at)
        piece.sort()
        ps, a2, pos = _positive_sums(piece, 0, len(piece), seen, total, offset, n_total)
        p_sum, a_sum, seen = p_sum + ps, a_sum + a2, seen + pos

    lo_at, offset = zeros, 0
    for c in range(len(cut)):
        q = 3 * c
        gathered(lo_at, at[:, q], offset)  # the scores strictly between two cut scores
        start, negatives = int(before[q]), int(before[q + 1] - before[q])
        m = int(before[q + 2] - before[q + 1])  # the cut score itself: counted
        if m:
            pos_below = seen
            p_sum += m * (total - pos_below) / (n_total - start)
            a_sum += m * (2 * (start - pos_below) + negatives)
            seen += m
        lo_at, offset = at[:, q + 2], int(before[q + 2])
    gathered(lo_at, np.full(rows, n, dtype=np.int64), offset)
    return _from_sums(p_sum, a_sum, total, n_total)


def row_sorted_micro_scores(keys, total_positives=None):
    """Micro AP and AUC of a key matrix whose every row is sorted (the report's path).

    The merge (:func:`merged_micro_scores`) where it is faster than one sort of
    all the keys: rows of at least :data:`MERGE_MIN_ROW` keys, at most
    :data:`MERGE_MAX_ROWS` of them (1,000 labels x 100,000 examples and more:
    the pooled sort then runs out of cache and the merge sorts cache-sized
    pieces); elsewhere :func:`sorted_micro_scores`, which sorts ``keys`` in
    place. Both are exact; see BENCHMARKS.md for the measurements.
    """
    rows, n = keys.shape
    if n >= MERGE_MIN_ROW and rows <= MERGE_MAX_ROWS:
        return merged_micro_scores(keys, total_positives, chunk_elements=MERGE_ELEMENTS)
    return sorted_micro_scores(keys, total_positives)


def _gather(keys, lo_at, hi_at):
    """``keys[j, lo_at[j]:hi_at[j]]`` of every row ``j``, one after another (a copy).

    Up to :data:`SLICE_ROWS` rows that contribute, a concatenation of slices;
    beyond (tens of thousands of labels), one fancy index built without a
    Python loop over the rows.
    """
    rows = np.flatnonzero(hi_at > lo_at)
    if len(rows) <= SLICE_ROWS:
        return np.concatenate([keys[j, lo_at[j]:hi_at[j]] for j in rows.tolist()])
    counts = (hi_at - lo_at)[rows]
    skip = np.cumsum(counts) - counts  # where each row's slice starts in the piece
    index = np.repeat(rows * keys.shape[1] + lo_at[rows] - skip, counts)
    index += np.arange(len(index), dtype=np.int64)
    return keys.reshape(-1)[index]


def micro_ranking_scores(y_true, scores):
    """Average precision and ROC AUC of all entries pooled (``average="micro"``).

    Returns NaN for both when ``y_true`` has no positive or no negative entry.
    """
    return sorted_micro_scores(pack_keys(scores, y_true))


# --- per-example ranking metrics ----------------------------------------------


def _discount_cumsum(num_labels, k):
    """``C[r]``: the sum of the first ``r`` nDCG discounts ``1 / log2(rank + 1)``."""
    disc = 1.0 / np.log2(np.arange(num_labels) + 2.0)
    disc[k:] = 0.0
    return np.concatenate([[0.0], np.cumsum(disc)])


def _odd_positions(flat, out=None):
    """Indices of the odd (positive) keys of a 1-D key array, ascending.

    ``out``: an optional uint8 buffer of ``len(flat)`` for the low bits.
    """
    low = np.bitwise_and(flat, 1, out=np.empty(len(flat), np.uint8) if out is None else out,
                         casting="unsafe")
    return np.flatnonzero(low.view(bool))


def _positions(keys):
    """Flat index, row and column of every positive key, row by row (a fast 2-D ``nonzero``)."""
    f = _odd_positions(keys.reshape(-1))
    r, c = np.divmod(f, keys.shape[1])
    return f, r, c


def _row_search(flat, num_labels, rows, targets, right):
    """``np.searchsorted(keys[row], target)`` for many (row, target) pairs at once.

    ``flat`` is the row-major ``(rows, num_labels)`` key matrix, flattened.
    """
    lo = np.zeros(len(rows), dtype=np.int64)
    hi = np.full(len(rows), num_labels, dtype=np.int64)
    base = rows * num_labels
    for _ in range(int(num_labels).bit_length()):
        mid = (lo + hi) // 2
        value = flat[base + np.minimum(mid, num_labels - 1)]
        go_right = (value <= targets) if right else (value < targets)
        go_right &= lo < hi
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(go_right | (lo >= hi), hi, mid)
    return lo


def _tie_groups(keys, f, r, c):
    """Group ``start``, first positive and ``end`` (inclusive) of positives ``(r, c)``.

    ``keys`` has one example per row, sorted; ``f`` are the positives' flat
    indices. A positive whose neighbours hold other scores is its own group; a
    tied one finds its group by binary search in its row.
    """
    num_labels = keys.shape[1]
    flat = keys.reshape(-1)
    k = flat[f]
    tied = (flat[np.maximum(f - 1, 0)] >> 1) == (k >> 1)
    tied &= c > 0
    tied |= (flat[np.minimum(f + 1, len(flat) - 1)] == k) & (c < num_labels - 1)
    start, first_pos, end = c.copy(), c.copy(), c.copy()
    if tied.any():
        rt, kt = r[tied], k[tied]
        start[tied] = _row_search(flat, num_labels, rt, kt - 1, right=False)  # score << 1 | 0
        first_pos[tied] = _row_search(flat, num_labels, rt, kt, right=False)
        end[tied] = _row_search(flat, num_labels, rt, kt, right=True) - 1  # positives close a group
    return start, first_pos, end


class ExampleRankingSums:
    """Sums over examples of the per-example ranking metrics; exact and streamable.

    ``update`` sorts each example's keys (row chunks), finds every label's group
    of tied scores, and adds per example: precision@k, recall@k and nDCG@k for
    each ``k`` in ``ks``, label ranking average precision, coverage error and
    ranking loss, with scikit-learn's conventions (LRAP 1 and ranking loss 0 for
    an example with no or only positive labels; coverage 0 without positives;
    recall@k and nDCG@k 0 without positives).

    Args:
        num_labels: int. Number of labels.
        ks: tuple of int. The cut-offs of the ``@k`` metrics.
    """

    def __init__(self, num_labels, ks=DEFAULT_KS):
        self.num_labels, self.ks = int(num_labels), tuple(int(k) for k in ks)
        self._disc = {k: _discount_cumsum(self.num_labels, k) for k in self.ks}
        self.reset()

    def names(self):
        """The metric names, in report order."""
        return ([f"precision_at_{k}" for k in self.ks] + [f"recall_at_{k}" for k in self.ks]
                + [f"ndcg_at_{k}" for k in self.ks]
                + ["label_ranking_average_precision", "coverage_error", "label_ranking_loss"])

    def reset(self):
        self.n_samples = 0
        self.sums = dict.fromkeys(self.names(), 0.0)

    def update(self, y_true, scores):
        for r0 in range(0, len(y_true), max(1, CHUNK_ELEMENTS // self.num_labels)):
            rows = slice(r0, r0 + max(1, CHUNK_ELEMENTS // self.num_labels))
            self._update_chunk(y_true[rows], scores[rows])

    def _update_chunk(self, y_true, scores):
        keys = pack_keys(scores, y_true)
        keys.sort(axis=1)
        n, num_labels = keys.shape
        f, r, c = _positions(keys)  # the positives, row by row, lowest score first
        positives = np.bincount(r, minlength=n).astype(np.int64)
        negatives = num_labels - positives
        first_of_row = np.concatenate([[0], np.cumsum(positives)[:-1]])
        below = np.arange(len(r)) - first_of_row[r]  # positives before, in the row
        start, first_pos, end = _tie_groups(keys, f, r, c)
        pos_below = below - (c - first_pos)  # positives with a strictly lower score
        size = (end - start + 1).astype(np.float64)
        del keys

        def per_row(values):
            return np.bincount(r, weights=values, minlength=n)

        sums = self.sums
        # label ranking average precision: true labels ranked at or above, over rank
        lrap = per_row((positives[r] - pos_below) / (num_labels - start))
        lrap = np.where((positives == 0) | (negatives == 0), 1.0,
                        lrap / np.maximum(positives, 1))
        sums["label_ranking_average_precision"] += float(lrap.sum())
        # coverage error: labels scored >= the lowest-scored positive (first in row)
        lowest = start[first_of_row[positives > 0]]
        sums["coverage_error"] += float((num_labels - lowest).sum())
        # ranking loss: (positive, negative) pairs with the negative scored >= it
        neg_at_or_above = (num_labels - start) - (positives[r] - pos_below)
        pairs = positives * negatives
        sums["label_ranking_loss"] += float(np.divide(
            per_row(neg_at_or_above), pairs, out=np.zeros(n), where=pairs > 0).sum())
        # @k: a group occupies the top ranks num_labels - 1 - end .. num_labels - 1 - start
        top_a = (num_labels - 1 - end).astype(np.int64)
        top_b = (num_labels - 1 - start).astype(np.int64)
        for k in self.ks:
            inside = np.clip(np.minimum(top_b, k - 1) - top_a + 1, 0, None) / size
            hits = per_row(inside)
            sums[f"precision_at_{k}"] += float(hits.sum()) / k
            sums[f"recall_at_{k}"] += float(np.divide(
                hits, positives, out=np.zeros(n), where=positives > 0).sum())
            disc = self._disc[k]
            gain = (disc[np.minimum(top_b + 1, k)] - disc[np.minimum(top_a, k)]) / size
            ideal = disc[np.minimum(positives, k)]
            sums[f"ndcg_at_{k}"] += float(np.divide(
                per_row(gain), ideal, out=np.zeros(n), where=ideal > 0).sum())
        self.n_samples += n

    def merge(self, other):
        for name in self.sums:
            self.sums[name] += other.sums[name]
        self.n_samples += other.n_samples
        return self

    def metrics(self):
        """The means over examples, as a dict of floats."""
        if not self.n_samples:
            return {}
        return {name: value / self.n_samples for name, value in self.sums.items()}


__all__ = [
    "DEFAULT_KS", "ExampleRankingSums", "label_ranking_scores", "merged_micro_scores",
    "micro_ranking_scores", "pack_keys", "row_sorted_micro_scores", "sorted_label_scores",
    "sorted_micro_scores", "transposed_keys",
]
