"""The one soft-confusion mechanism behind every VLAP loss and soft score.

Every score goes through the same three steps (as torchmetrics' stat-scores do):

1. *format*: ``S = sigmoid(beta * (u + eta))`` on the logit ``u`` (or the
   probabilities as given when ``from_logits=False``);
2. *update*: soft counts per label, summed over the batch, returned in the order
   ``tp, fp, tn, fn``;
3. *reduce*: the score's formula, then the average over labels.

Only step 3 differs between F-beta, precision, recall, Jaccard and MCC, so the
paper's claim that "any confusion-matrix metric has a smooth surrogate" is one
function here, not one copy per metric.

The functions take an array namespace ``xp`` as their first argument, so the
exact same formulas serve the Keras losses and metrics (``xp`` wraps
``keras.ops``, see :mod:`VLAP.ops`), the native PyTorch losses (``xp`` wraps
``torch``, see :mod:`VLAP.torch`) and the exact thresholded counts of
:mod:`VLAP.evaluation` (``xp`` wraps NumPy, see :mod:`VLAP.ops.numpy_ops`):
soft counts use the smooth step as the prediction, hard counts the 0/1
:func:`hard_indicator`. Nothing here imports a framework.

Naming: sigmoidF1's slope and offset are ``beta`` and ``eta`` (the paper's
names). F-beta's own beta is called ``f_beta``.

Averages follow scikit-learn: ``"macro"`` is the per-label score, then the mean
over labels; ``"micro"`` pools the counts of all labels first (the paper's text
defines the two the other way round; its tables use scikit-learn's meaning).
``None`` returns per-label scores.
"""

from VLAP._validation import check_bool, check_number, check_option

AVERAGES = ("macro", "micro", None)
SCORES = ("fbeta", "precision", "recall", "jaccard", "mcc")
DEFAULT_EPSILON = 1e-7


def check_sigmoid_args(from_logits, beta, eta):
    """Argument checks shared by every soft score (run in Python, before tracing)."""
    if not isinstance(from_logits, bool):
        raise TypeError(
            f"`from_logits` must be a bool. Received: from_logits={from_logits!r}"
        )
    for name, value in (("beta", beta), ("eta", eta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"`{name}` must be a number. Received: {name}={value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"`{name}` must be finite. Received: {name}={value!r}")
    if beta <= 0:
        raise ValueError(
            f"`beta` (the sigmoid's slope) must be > 0. Received: beta={beta!r}"
        )
    if not from_logits and (beta != 1.0 or eta != 0.0):
        raise ValueError(
            "`beta` and `eta` act on logits: with from_logits=False the predictions "
            "are used as the soft indicator S directly. Pass logits with "
            f"from_logits=True, or leave beta=1, eta=0. Received: beta={beta!r}, "
            f"eta={eta!r}"
        )


# One check per loss option, shared by the Keras losses (VLAP.losses) and the
# native PyTorch modules (VLAP.torch), so both refuse the same values the same way.
_OPTION_CHECKS = {
    "average": lambda v: check_option("average", v, ("macro", "micro")),
    "from_logits": lambda v: check_bool("from_logits", v),
    "epsilon": lambda v: check_number("epsilon", v, low=0.0),
    "f_beta": lambda v: check_number("f_beta", v, low=0.0, low_inclusive=False),
    "alpha": lambda v: check_number("alpha", v, low=0.0, high=1.0, allow_none=True),
    "gamma": lambda v: check_number("gamma", v, low=0.0),
    "gamma_neg": lambda v: check_number("gamma_neg", v, low=0.0),
    "gamma_pos": lambda v: check_number("gamma_pos", v, low=0.0),
    "clip": lambda v: check_number("clip", v, low=0.0, high=1.0),
    "weight": lambda v: check_number("weight", v, low=0.0),
    "momentum": lambda v: check_number("momentum", v, low=0.0, high=1.0,
                                       high_inclusive=False),
    "start_epoch": lambda v: check_number("start_epoch", v, low=0.0),
    "ramp_epochs": lambda v: check_number("ramp_epochs", v, low=0.0),
}


def check_loss_options(**options):
    """Check a loss's options in Python, before any tracing; unknown names pass.

    ``beta``, ``eta`` and ``from_logits`` are checked together by
    :func:`check_sigmoid_args` (they constrain each other); every other option
    has one check here, used by both :mod:`VLAP.losses` and :mod:`VLAP.torch`.

    Example:
    >>> check_loss_options(gamma=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: `gamma` must be in [0.0, inf]. Received: gamma=-1.0
    """
    if {"beta", "eta"} & set(options):
        check_sigmoid_args(options.get("from_logits", True), options.get("beta", 1.0),
                           options.get("eta", 0.0))
    for name, value in options.items():
        check = _OPTION_CHECKS.get(name)
        if check is not None:
            check(value)


def sample_weight_shape(weight_shape, pred_shape):
    """Static check of a batch-level loss's ``sample_weight``; returns its 2-D shape.

    Accepted: ``(batch,)`` or ``(batch, 1)`` (one weight per example) and
    ``(batch, num_labels)`` (one weight per entry: 0 removes that label of that
    example from the soft counts). ``None`` dimensions (traced shapes) match any.

    Example:
    >>> sample_weight_shape((4,), (4, 3))
    (4, 1)
    >>> sample_weight_shape((4, 2), (4, 3))
    Traceback (most recent call last):
    ...
    ValueError: `sample_weight` of a batch-level loss must have shape (batch_size,), (batch_size, 1) or (batch_size, num_labels) = (4,), (4, 1) or (4, 3). Received: sample_weight.shape=(4, 2)
    """
    weight_shape, pred_shape = tuple(weight_shape), tuple(pred_shape)
    batch, labels = pred_shape

    def same(a, b):
        return a is None or b is None or a == b

    if len(weight_shape) == 1 and same(weight_shape[0], batch):
        return (weight_shape[0], 1)
    if len(weight_shape) == 2 and same(weight_shape[0], batch) and \
            (weight_shape[1] == 1 or same(weight_shape[1], labels)):
        return weight_shape
    raise ValueError(
        "`sample_weight` of a batch-level loss must have shape (batch_size,), "
        "(batch_size, 1) or (batch_size, num_labels) = "
        f"({batch},), ({batch}, 1) or ({batch}, {labels}). "
        f"Received: sample_weight.shape={weight_shape}")


def soft_indicator(xp, y_pred, *, from_logits=True, beta=1.0, eta=0.0):
    """``S(u) = 1 / (1 + exp(-beta * (u + eta)))``: the smooth step of the paper."""
    if not from_logits:
        return y_pred
    if beta == 1.0 and eta == 0.0:
        return xp.sigmoid(y_pred)
    return xp.sigmoid(beta * (y_pred + eta))


def confusion_counts(xp, y_true, p, *, sample_weight=None, from_totals=False):
    """The one counting step: ``tp, fp, tn, fn`` per label, summed over axis 0.

    ``p`` is the formatted prediction: a soft indicator in [0, 1] (the smooth
    step ``S``) for the losses and soft scores, or a hard 0/1 prediction for the
    thresholded metrics (:func:`hard_indicator`). ``sample_weight`` weights rows
    (shape ``(batch,)``) or entries (shape ``(batch, num_labels)``).

    ``y_true`` may be soft (in [0, 1], label smoothing or mixup): every count is
    then the same sum with the fractional ``y``, ``tp = sum S y``,
    ``fp = sum S (1 - y)``, ``tn = sum (1 - S)(1 - y)``, ``fn = sum (1 - S) y``.

    ``from_totals=True`` computes the same counts from three sums over the
    batch, ``tp = sum w S y``, ``predicted = sum w S`` and ``positives = sum w y``
    (and the total weight ``sum w``): ``fp = predicted - tp``,
    ``fn = positives - tp``, ``tn = total - predicted - fn``. The values are
    equal up to float rounding; it makes one product over the batch instead of
    four (the fast path of :mod:`VLAP.torch`; the Keras losses keep the default).
    It needs a known batch size (``p.shape[0]``) when there is no ``sample_weight``.
    """
    # ``1 - x`` (an int literal) keeps the dtype of ``p``: float for the soft
    # counts, a small integer type for exact hard counts on NumPy.
    y = xp.cast_like(y_true, p)
    w = None
    if sample_weight is not None:
        w = xp.cast_like(sample_weight, p)
        if len(w.shape) < 2:
            w = xp.reshape(w, (-1, 1))  # one weight per row, broadcast over labels
    if from_totals:
        p_w = p if w is None else p * w
        tp = xp.sum(p_w * y, 0)
        predicted = xp.sum(p_w, 0)
        positives = xp.sum(y if w is None else y * w, 0)
        if w is None:
            total = p.shape[0]  # a Python number: no tensor made from host data (no copy)
        elif w.shape[-1] == 1:
            total = xp.sum(w)
        else:
            total = xp.sum(w, 0)
        fn = positives - tp
        return tp, predicted - tp, total - predicted - fn, fn
    if w is not None:
        p_w, not_p_w = p * w, (1 - p) * w
    else:
        p_w, not_p_w = p, 1 - p
    not_y = 1 - y
    tp = xp.sum(p_w * y, 0)
    fp = xp.sum(p_w * not_y, 0)
    tn = xp.sum(not_p_w * not_y, 0)
    fn = xp.sum(not_p_w * y, 0)
    return tp, fp, tn, fn


def hard_indicator(xp, y_score, cut_point, like=None):
    """Format for the thresholded metrics: 1 where ``y_score > cut_point``, else 0.

    ``cut_point`` is a scalar or one cut per label (broadcast over rows). The
    result has the dtype of ``like`` (default: of ``y_score``).
    """
    return xp.cast_like(y_score > cut_point, y_score if like is None else like)


def example_counts(xp, y_true, p):
    """Per-example counts, summed over labels (axis -1): ``tp, predicted, true``.

    The update step of the example-based metrics (the ``samples`` averages,
    subset accuracy and the label-count metrics): ``fp = predicted - tp`` and
    ``fn = true - tp`` follow.
    """
    y = xp.cast_like(y_true, p)
    return xp.sum(p * y, -1), xp.sum(p, -1), xp.sum(y, -1)


def soft_confusion(xp, y_true, y_pred, *, from_logits=True, beta=1.0, eta=0.0,
                   sample_weight=None, from_totals=False):
    """Soft ``tp, fp, tn, fn`` per label, summed over the batch (axis 0); see
    :func:`confusion_counts` for soft targets and ``from_totals``."""
    s = soft_indicator(xp, y_pred, from_logits=from_logits, beta=beta, eta=eta)
    return confusion_counts(xp, y_true, s, sample_weight=sample_weight,
                            from_totals=from_totals)


def _fbeta(xp, tp, fp, tn, fn, *, f_beta, epsilon):
    b2 = float(f_beta) ** 2
    return (1.0 + b2) * tp / ((1.0 + b2) * tp + b2 * fn + fp + epsilon)


def _precision(xp, tp, fp, tn, fn, *, f_beta, epsilon):
    return tp / (tp + fp + epsilon)


def _recall(xp, tp, fp, tn, fn, *, f_beta, epsilon):
    return tp / (tp + fn + epsilon)


def _jaccard(xp, tp, fp, tn, fn, *, f_beta, epsilon):
    return tp / (tp + fp + fn + epsilon)


def _mcc(xp, tp, fp, tn, fn, *, f_beta, epsilon):
    # epsilon inside the root keeps the gradient finite when a margin is zero.
    den = xp.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + epsilon)
    return (tp * tn - fp * fn) / den


_FORMULAS = {
    "fbeta": _fbeta,
    "precision": _precision,
    "recall": _recall,
    "jaccard": _jaccard,
    "mcc": _mcc,
}


def reduce_score(xp, score, tp, fp, tn, fn, *, average="macro", f_beta=1.0,
                 epsilon=DEFAULT_EPSILON):
    """The reduce step: a score's formula on per-label counts, then the average.

    ``"micro"`` pools the counts over labels first, ``"macro"`` averages the
    per-label scores, ``"weighted"`` weights them by support (``tp + fn``),
    ``None`` returns them. Counts summed across batches or replicas before this
    step give the score of the pooled examples.

    ``epsilon`` is added to every denominator. With *hard* counts (whole numbers,
    or sums of sample weights) an ``epsilon`` far below their resolution, such
    as the dtype's smallest normal number, leaves every non-zero denominator
    unchanged and turns 0/0 into 0: scikit-learn's ``zero_division=0``.
    """
    counts = (tp, fp, tn, fn)
    if average == "micro":
        counts = tuple(xp.sum(c) for c in counts)
    value = _FORMULAS[score](xp, *counts, f_beta=f_beta, epsilon=epsilon)
    if average == "macro":
        return xp.mean(value)
    if average == "weighted":
        support = tp + fn
        return xp.sum(value * support) / (xp.sum(support) + epsilon)
    return value


def soft_score(xp, score, y_true, y_pred, *, average="macro", from_logits=True,
               beta=1.0, eta=0.0, f_beta=1.0, epsilon=DEFAULT_EPSILON,
               sample_weight=None):
    """A smooth confusion-matrix score: format, update, reduce.

    ``score`` is one of :data:`SCORES`. Returns a scalar for ``"macro"`` and
    ``"micro"``, per-label scores for ``average=None``.
    """
    counts = soft_confusion(xp, y_true, y_pred, from_logits=from_logits,
                            beta=beta, eta=eta, sample_weight=sample_weight)
    return reduce_score(xp, score, *counts, average=average, f_beta=f_beta,
                        epsilon=epsilon)


# --- element-wise baselines -------------------------------------------------
# Each returns the loss per example (mean over labels), shape (batch,), as
# keras.losses.binary_crossentropy does; the Loss classes then average the batch.


def _log_probs(xp, y_pred, from_logits, epsilon):
    """``log p`` and ``log(1 - p)``, stable for logits of any size."""
    if from_logits:
        return xp.log_sigmoid(y_pred), xp.log_sigmoid(-y_pred)
    p = xp.clip(y_pred, epsilon, 1.0 - epsilon)
    return xp.log(p), xp.log(1.0 - p)


def _focus(xp, x, gamma):
    """``x ** gamma``, and exactly 1 for ``gamma == 0``: autodiff of ``x ** 0`` at
    ``x = 0`` is ``0 * 0 ** -1 = nan`` on JAX (a saturated probability makes ``x``
    zero), while the factor is the constant 1."""
    return 1.0 if gamma == 0 else xp.power(x, gamma)


def binary_crossentropy(xp, y_true, y_pred, *, from_logits=True,
                        epsilon=DEFAULT_EPSILON):
    y = xp.cast_like(y_true, y_pred)
    if from_logits:
        # -[y log s(u) + (1 - y) log s(-u)] = softplus(u) - u y: one transcendental
        return xp.mean(xp.softplus(y_pred) - y_pred * y, -1)
    log_p, log_not_p = _log_probs(xp, y_pred, from_logits, epsilon)
    return -xp.mean(y * log_p + (1.0 - y) * log_not_p, -1)


def focal(xp, y_true, y_pred, *, alpha=0.25, gamma=2.0, from_logits=True,
          epsilon=DEFAULT_EPSILON):
    """Focal loss (Lin et al. 2017): ``-alpha_t (1 - p_t)^gamma log(p_t)``."""
    y = xp.cast_like(y_true, y_pred)
    p = xp.sigmoid(y_pred) if from_logits else xp.clip(y_pred, epsilon, 1.0 - epsilon)
    log_p, log_not_p = _log_probs(xp, y_pred, from_logits, epsilon)
    p_t = y * p + (1.0 - y) * (1.0 - p)
    log_p_t = y * log_p + (1.0 - y) * log_not_p
    loss = -_focus(xp, 1.0 - p_t, gamma) * log_p_t
    if alpha is not None:
        loss = (y * alpha + (1.0 - y) * (1.0 - alpha)) * loss
    return xp.mean(loss, -1)


def label_count_error(xp, y_true, y_pred, *, from_logits=True, sample_weight=None):
    """``|sum_j p_j - sum_j y_j|`` per example: the soft label-count error, in labels.

    ``p`` is the probability (``sigmoid(u)`` of the logit, or ``y_pred`` itself
    with ``from_logits=False``), so the expected number of predicted labels is
    pulled towards the true number. Its batch mean is a smooth stand-in for the
    label-count MAE that :func:`VLAP.evaluate` reports. ``sample_weight`` of
    shape ``(batch, 1)`` or ``(batch, num_labels)`` weights the entries inside
    the sums.
    """
    y = xp.cast_like(y_true, y_pred)
    p = xp.sigmoid(y_pred) if from_logits else y_pred
    if sample_weight is not None:
        return xp.abs(xp.sum(sample_weight * (p - y), -1))
    return xp.abs(xp.sum(p - y, -1))


def split_dual_logits(y_pred, num_labels=None):
    """``(decision, score)``: the two halves of a dual-head output ``(batch, 2 * L)``.

    Works on any array with ``.shape`` and slicing (NumPy, Keras, PyTorch).

    Args:
        y_pred: tensor or array whose last dimension is ``2 * num_labels``.
        num_labels: int or None. Checked against the output when given.

    Example:
    >>> import numpy as np
    >>> decision, score = split_dual_logits(np.arange(8.0).reshape(2, 4))
    >>> decision.tolist(), score.tolist()
    ([[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]])
    >>> split_dual_logits(np.zeros((2, 3)))
    Traceback (most recent call last):
    ...
    ValueError: A dual-head output has 2 * num_labels columns (decision head, then score head). Received: 3 columns
    """
    width = y_pred.shape[-1]
    if width is None:
        raise ValueError("A dual-head output needs a static last dimension (2 * num_labels). "
                         f"Received: shape {tuple(y_pred.shape)}")
    if width % 2:
        raise ValueError("A dual-head output has 2 * num_labels columns (decision head, then "
                         f"score head). Received: {width} columns")
    half = width // 2
    if num_labels is not None and num_labels != half:
        raise ValueError(f"A dual-head output for {num_labels} labels has {2 * num_labels} "
                         f"columns. Received: {width} columns")
    return y_pred[..., :half], y_pred[..., half:]


def ema_update(state, counts, *, momentum):
    """One step of a bias-corrected exponential moving average of soft counts.

    Args:
        state: tuple ``(tp, fp, tn, fn, decay)``: the raw averages of the
            earlier batches (constants: no gradient flows into them) and
            ``decay = momentum ** steps`` (1 before the first batch).
        counts: tuple ``(tp, fp, tn, fn)`` of the current batch (with gradient).
        momentum: float in ``[0, 1)``. 0 gives the batch's own counts.

    Returns:
        ``(new_state, corrected)``: the state to store (detach it before
        storing) and the counts to reduce, ``new / (1 - decay * momentum)``
        (Adam's correction, so the first batches are not pulled towards 0).
        The gradient reaches only the current batch, scaled by
        ``(1 - momentum) / (1 - decay * momentum)``.
    """
    *old, decay = state
    new = tuple(momentum * o + (1.0 - momentum) * c for o, c in zip(old, counts))
    new_decay = decay * momentum
    corrected = tuple(n / (1.0 - new_decay) for n in new)
    return (*new, new_decay), corrected


def asymmetric(xp, y_true, y_pred, *, gamma_neg=4.0, gamma_pos=1.0, clip=0.05,
               from_logits=True, epsilon=1e-8):
    """Asymmetric loss, ASL (Ridnik et al. 2021), with the probability margin.

    Negatives use the shifted probability ``p_m = max(p - clip, 0)``, written as
    ``1 - p_m = min(1 - p + clip, 1)``; logs are taken of values clamped at
    ``epsilon`` as in the published implementation.
    """
    y = xp.cast_like(y_true, y_pred)
    p = xp.sigmoid(y_pred) if from_logits else y_pred
    not_p = 1.0 - p
    if clip:
        not_p = xp.minimum(not_p + clip, 1.0)  # = 1 - max(p - clip, 0)
    log_pos = xp.log(xp.clip(p, epsilon, 1.0))
    log_neg = xp.log(xp.clip(not_p, epsilon, 1.0))
    # asymmetric focusing: (1 - p)^gamma_pos for positives, p_m^gamma_neg for negatives
    focus = y * _focus(xp, 1.0 - p, gamma_pos) * log_pos
    focus = focus + (1.0 - y) * _focus(xp, 1.0 - not_p, gamma_neg) * log_neg
    return -xp.mean(focus, -1)


# --- relative (log-sum-exp) losses: ZLPR and the Two-way Multi-Label Loss ---------
# Both compare the logits of an example's (or a class's) positives with those of its
# negatives through log-sum-exps. The namespaces need ``exp``, ``max(x, axis)`` and
# ``maximum(x, scalar)`` besides the functions above.

#: Stands for "minus infinity" in masked maxima: far below any logit, yet finite in
#: float32 after a division by a temperature, so no inf - inf can appear.
_FAR = -1e9
#: The floor of a sum of exponentials before its log: an empty set (no negatives, no
#: positives) has the sum 0, whose log would be -inf and whose gradient nan.
_TINY = 1e-30


def _as_logits(xp, y_pred, from_logits):
    """The logit of ``y_pred`` (probabilities clipped to [1e-7, 1 - 1e-7] first)."""
    if from_logits:
        return y_pred
    p = xp.clip(y_pred, DEFAULT_EPSILON, 1.0 - DEFAULT_EPSILON)
    return xp.log(p) - xp.log(1.0 - p)


def _masked_max(xp, z, mask, axis):
    """``max`` of ``z`` over ``axis`` where ``mask`` is 1; ``_FAR`` where it is 0 all along."""
    return xp.max(z * mask + _FAR * (1.0 - mask), axis)


def _shifted_exp_sum(xp, z, weight, member, shift, axis):
    """``sum(weight * exp(z - shift))`` over ``axis``, for a ``shift`` at least the
    maximum of ``z`` where ``member`` (``weight > 0``) is 1: every term is at most
    ``weight``. The exponent is multiplied by ``member``, so a masked-out entry
    (weight 0, any ``z``) gives ``0 * e^0``: exactly 0, and no gradient. (A clip at
    0 would do the same, but JAX splits a clip's gradient in two at the maximum.)"""
    return xp.sum(weight * xp.exp((z - shift) * member), axis)


def _log_sum(xp, total, shift):
    """``shift + log(total)``: the log-sum-exp back from its shifted sum (floored)."""
    return shift + xp.log(xp.maximum(total, _TINY))


def _weights(xp, y, sample_weight):
    """Entry weights of the negatives and positives (``(1 - y) w``, ``y w``) and the
    0/1 indicators of the entries that count (non-zero weight)."""
    if sample_weight is None:
        return 1.0 - y, y, 1.0 - y, y
    w = xp.cast_like(sample_weight, y)
    if len(w.shape) < 2:
        w = xp.reshape(w, (-1, 1))  # one weight per row, broadcast over labels
    neg, pos = (1.0 - y) * w, y * w
    return neg, pos, xp.cast_like(neg > 0, y), xp.cast_like(pos > 0, y)


def zlpr(xp, y_true, y_pred, *, from_logits=True, sample_weight=None):
    """ZLPR, the multilabel categorical cross-entropy (Su et al. 2022), per example.

    Formula (Su et al., "ZLPR: A Novel Loss for Multi-label Classification", 2022,
    their proposed loss; first in Su 2020, "Generalizing softmax + cross-entropy to
    multi-label classification"), for the logits ``s`` of one example:

        ``log(1 + sum_{i in neg} e^{s_i}) + log(1 + sum_{j in pos} e^{-s_j})``

    i.e. softmax cross-entropy with an extra class of logit 0 as the threshold: the
    loss pushes every positive above 0 and every negative below 0, so the decision
    cut is **logit 0** (probability 0.5), with no threshold tuning. One value per
    example: a sum over its labels, not a mean (it is not separable by label).

    ``sample_weight`` (the formula takes it, ``weights_inside``): ``(batch, 1)``
    weights multiply each example's value (as Keras weights an element-wise loss);
    ``(batch, num_labels)`` weights multiply the exponentials inside the sums (an
    entry weighted 0 leaves its example's sets). With one label the two shapes
    coincide and are read as example weights. ``from_logits=False`` takes
    probabilities and uses their logits.
    """
    s = _as_logits(xp, y_pred, from_logits)
    y = xp.cast_like(y_true, s)
    entry = sample_weight is not None and sample_weight.shape[-1] != 1
    neg, pos, neg_set, pos_set = _weights(xp, y, sample_weight if entry else None)
    value = 0.0
    for z, weight, member in ((s, neg, neg_set), (-s, pos, pos_set)):
        # log(1 + sum w e^z) = m + log(e^-m + sum w e^(z - m)), m = max(0, max z)
        m = xp.maximum(_masked_max(xp, z, member, -1), 0.0)
        total = xp.exp(-m) + _shifted_exp_sum(xp, z, weight, member,
                                              xp.reshape(m, (-1, 1)), -1)
        value = value + m + xp.log(total)
    if sample_weight is not None and not entry:
        value = value * xp.reshape(xp.cast_like(sample_weight, value), (-1,))
    return value


def _two_way_terms(xp, y_true, y_pred, from_logits, t_pos, t_neg, sample_weight):
    s = _as_logits(xp, y_pred, from_logits)
    y = xp.cast_like(y_true, s)
    neg, pos, neg_set, pos_set = _weights(xp, y, sample_weight)
    # the exponents of the paper's log-sum-exps: x / Tn over the negatives,
    # -x / Tp over the positives
    return (s / t_neg, neg, neg_set), (-s / t_pos, pos, pos_set)


def two_way_shift(xp, y_true, y_pred, *, t_pos=4.0, t_neg=1.0, from_logits=True,
                  sample_weight=None):
    """Per-label shifts of the class-wise log-sum-exps of :func:`two_way_counts`:
    the maximum exponent over each class's negatives and over its positives in
    this batch (``_FAR`` for an empty set). The front-ends take their maximum
    across replicas or ranks (and stop its gradient) before the counts."""
    return tuple(_masked_max(xp, z, member, 0) for z, _, member in
                 _two_way_terms(xp, y_true, y_pred, from_logits, t_pos, t_neg,
                                sample_weight))


def two_way_counts(xp, y_true, y_pred, *, t_pos=4.0, t_neg=1.0, from_logits=True,
                   sample_weight=None, shift):
    """The sums of the Two-way loss over this batch's rows, to add across replicas.

    The loss (Kobayashi, "Two-way Multi-Label Loss", CVPR 2023; its relative loss
    with temperatures, applied to the samples and to the classes) is, for a set
    with positives ``P`` and negatives ``N``, ``softplus(Tn log sum_N e^{x/Tn} +
    Tp log sum_P e^{-x/Tp})``, averaged over the samples with a positive plus
    averaged over the classes with a positive in the batch. Sets are exact (the
    reference code's soft mask of -100 is not used); an empty set of negatives
    gives 0. Weights multiply the exponentials (``w`` copies of an entry).

    Returns ``(class_neg, class_pos, class_positives, sample_total, samples)``:
    per label, ``sum_i w e^{x/Tn - shift_n}`` over the class's negatives and
    ``sum_i w e^{-x/Tp - shift_p}`` over its positives (``shift`` from
    :func:`two_way_shift`, the same on every replica, so the sums add), and the
    number of its weighted positives; then the sample-wise term summed over the
    rows that have a positive, and the number of those rows (each row's own
    log-sum-exps over its labels need nothing from other replicas).
    """
    (zn, wn, mn), (zp, wp, mp) = _two_way_terms(xp, y_true, y_pred, from_logits, t_pos,
                                                t_neg, sample_weight)
    class_neg = _shifted_exp_sum(xp, zn, wn, mn, shift[0], 0)
    class_pos = _shifted_exp_sum(xp, zp, wp, mp, shift[1], 0)
    row = []
    for z, weight, member, t in ((zn, wn, mn, t_neg), (zp, wp, mp, t_pos)):
        m = xp.reshape(_masked_max(xp, z, member, -1), (-1, 1))
        row.append(t * _log_sum(xp, _shifted_exp_sum(xp, z, weight, member, m, -1),
                                xp.reshape(m, (-1,))))
    has_positive = xp.cast_like(xp.sum(mp, -1) > 0, zp)
    sample_total = xp.sum(has_positive * xp.softplus(row[0] + row[1]))
    return class_neg, class_pos, xp.sum(mp, 0), sample_total, xp.sum(has_positive)


def two_way_finish(xp, sums, *, t_pos=4.0, t_neg=1.0, shift):
    """The Two-way loss from the (replica-summed) sums of :func:`two_way_counts`:
    the class-wise term (mean over the classes with a positive in the global batch)
    plus the sample-wise term (mean over the rows with a positive)."""
    class_neg, class_pos, class_positives, sample_total, samples = sums
    relative = (t_neg * _log_sum(xp, class_neg, shift[0])
                + t_pos * _log_sum(xp, class_pos, shift[1]))
    present = xp.cast_like(class_positives > 0, class_neg)
    class_term = xp.sum(present * xp.softplus(relative)) / xp.maximum(xp.sum(present), 1.0)
    return class_term + sample_total / xp.maximum(samples, 1.0)
