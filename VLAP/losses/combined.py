"""Combined losses: a surrogate plus an element-wise term, a schedule point, EMA counts.

These are the candidates of the "beyond the paper" study (``vlap reproduce
beyond``, experiments/RESULTS.md): the F1 surrogates win macro-F1 at 0.5
mostly by predicting more labels, while BCE keeps the better ranking and label
counts; these losses try to get both.

* :func:`weighted_sum`: ``surrogate + weight * mean(element-wise)``, e.g.
  sigmoidF1 + 0.3 BCE, sigmoidF1 + ASL, or sigmoidF1 + a label-count term.
* :func:`mixed`: ``(1 - mix) * start + mix * end``, one point of a schedule
  (:class:`VLAP.losses.Scheduled` moves ``mix`` over the epochs).
* :func:`ema_sigmoid_f1`: sigmoidF1 on counts averaged over batches
  (:class:`VLAP.losses.EMASigmoidF1` keeps the average).
* :func:`dual_head`: two heads on one trunk, one trained with the surrogate
  (it decides), one with ``weight`` times the element-wise loss (it ranks).

**The dual-head convention.** A dual-head model (``head="dual"``,
:class:`VLAP.models.DualHeadLogits`) outputs ONE tensor of concatenated logits of
shape ``(batch, 2 * num_labels)``: columns ``[:num_labels]`` are the decision
head (trained with the surrogate; a label is predicted where its logit is > 0,
i.e. probability > 0.5), columns ``[num_labels:]`` the score head (trained with
the element-wise loss; its scores rank: mAP, P@k). :func:`split_dual_logits`
splits it.
"""

import functools

from VLAP._validation import check_number
from VLAP.losses.functions import loss_value
from VLAP.ops import core, registry
from VLAP.ops.core import check_loss_options, split_dual_logits
from VLAP.ops.soft import KERAS_OPS, entry_weights, prepare, sum_across_replicas

_BATCH, _ELEMENTWISE, _ANY = ("batch",), ("elementwise",), ("batch", "elementwise")


def resolve_part(role, name, kinds, options=None):
    """``(spec, function)`` of one part of a combined loss; options checked.

    The part is a registered loss of one of ``kinds`` (see
    :func:`VLAP.ops.registry.resolve_part`, whose ValueError names the role,
    the valid names and options); the function is its :func:`loss_value`.

    Example:
    >>> resolve_part("baseline", "bce", ("elementwise",))[0].name
    'binary_crossentropy'
    """
    spec = registry.resolve_part(role, name, kinds, options)
    return spec, functools.partial(loss_value, spec.name)


def _weighted_mean(part, y_true, y_pred, sample_weight, **options):
    """Batch mean of an element-wise loss, with row or entry weights (Keras' rule:
    ``sum(w * loss) / count``). ``part`` is ``(spec, function)``."""
    spec, fn = part
    if sample_weight is None:
        return KERAS_OPS.mean(fn(y_true, y_pred, **options))
    weights = entry_weights(sample_weight, y_pred)
    if spec.weights_inside:
        return KERAS_OPS.mean(fn(y_true, y_pred, sample_weight=weights, **options))
    if weights.shape[-1] == 1:
        return KERAS_OPS.mean(weights[:, 0] * fn(y_true, y_pred, **options))
    # entry weights: the element-wise value of every (example, label) pair
    flat = fn(KERAS_OPS.reshape(y_true, (-1, 1)), KERAS_OPS.reshape(y_pred, (-1, 1)),
              **options)
    return KERAS_OPS.mean(KERAS_OPS.reshape(weights, (-1,)) * flat)


def weighted_sum(y_true, y_pred, *, surrogate="sigmoid_f1", baseline="binary_crossentropy",
                 weight=0.5, surrogate_kwargs=None, baseline_kwargs=None, from_logits=True,
                 sample_weight=None, validate_args=True):
    """A batch-level surrogate plus ``weight`` times an element-wise loss.

    Formula: ``surrogate(batch) + weight * mean_i baseline(example_i)``, e.g.
    ``sigmoidF1 + 0.3 * BCE``. The surrogate optimises the thresholded F1
    directly; the element-wise term keeps every example's probability
    calibrated, which the surrogate alone does not (its gradient vanishes once
    an example is on the right side of the threshold), and so keeps the
    ranking quality (mAP) and the number of predicted labels of BCE.

    Args:
        y_true: array ``(batch_size, num_labels)`` of 0/1.
        y_pred: logits of the same shape (or probabilities, ``from_logits=False``).
        surrogate: str. A batch-level loss: ``"sigmoid_f1"`` (``"sigmoidF1"``),
            ``"unbounded_f1"``, ``"fbeta"``, ``"jaccard"``, ``"mcc"``,
            ``"precision"``, ``"recall"``.
        baseline: str. An element-wise loss: ``"binary_crossentropy"``
            (``"bce"``), ``"focal"``, ``"asymmetric"`` (``"asl"``) or
            ``"label_count_error"``.
        weight: float >= 0. The baseline's weight (0: the surrogate alone).
        surrogate_kwargs: dict or None. Options of the surrogate (``beta``, ``eta``, ...).
        baseline_kwargs: dict or None. Options of the baseline (``gamma_neg``, ...).
        from_logits: bool. For both parts.
        sample_weight: optional ``(batch,)`` or ``(batch, num_labels)`` weights:
            inside the surrogate's counts, and as Keras weights the baseline.
        validate_args: bool.

    Returns:
        A scalar tensor.

    Example:
    >>> import VLAP
    >>> y_true = [[1, 0, 1], [0, 1, 0]]
    >>> logits = [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
    >>> f1 = float(VLAP.losses.sigmoid_f1(y_true, logits))
    >>> import keras
    >>> bce = float(keras.ops.mean(VLAP.losses.binary_crossentropy(y_true, logits)))
    >>> total = float(VLAP.losses.weighted_sum(y_true, logits, weight=0.3))
    >>> round(total, 4) == round(f1 + 0.3 * bce, 4)
    True
    """
    check_loss_options(weight=weight, from_logits=from_logits)
    _, s_fn = resolve_part("surrogate", surrogate, _BATCH, surrogate_kwargs)
    base = resolve_part("baseline", baseline, _ELEMENTWISE, baseline_kwargs)
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    value = s_fn(y_true, y_pred, from_logits=from_logits, sample_weight=sample_weight,
                 validate_args=False, **(surrogate_kwargs or {}))
    if weight:
        value = value + weight * _weighted_mean(
            base, y_true, y_pred, sample_weight, from_logits=from_logits,
            validate_args=False, **(baseline_kwargs or {}))
    return value


def mixed(y_true, y_pred, *, mix, start="binary_crossentropy", end="sigmoid_f1",
          start_kwargs=None, end_kwargs=None, from_logits=True, sample_weight=None,
          validate_args=True):
    """``(1 - mix) * start + mix * end``: one point of a loss schedule.

    ``start`` and ``end`` are any surrogate or element-wise loss by name (an
    element-wise one is averaged over the batch). :class:`VLAP.losses.Scheduled`
    moves ``mix`` from 0 to 1 over the epochs of a training run.

    Example:
    >>> import VLAP
    >>> y, u = [[1, 0]], [[2.0, -1.0]]
    >>> round(float(VLAP.losses.mixed(y, u, mix=1.0)), 6) == round(float(VLAP.losses.sigmoid_f1(y, u)), 6)
    True
    """
    if not hasattr(mix, "shape"):  # a tensor (a schedule's variable) is checked by its owner
        check_number("mix", mix, low=0.0, high=1.0)
    parts = []
    for role, name, options in (("start", start, start_kwargs), ("end", end, end_kwargs)):
        part = resolve_part(role, name, _ANY, options)
        parts.append((part, options or {}))
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    values = []
    for (spec, fn), options in parts:
        if spec.kind == "elementwise":
            values.append(_weighted_mean((spec, fn), y_true, y_pred, sample_weight,
                                         from_logits=from_logits, validate_args=False,
                                         **options))
        else:
            values.append(fn(y_true, y_pred, from_logits=from_logits,
                             sample_weight=sample_weight, validate_args=False, **options))
    return (1.0 - mix) * values[0] + mix * values[1]


def ema_sigmoid_f1(y_true, y_pred, state, *, momentum=0.9, beta=1.0, eta=0.0,
                   average="macro", from_logits=True, epsilon=core.DEFAULT_EPSILON,
                   sample_weight=None, validate_args=True):
    """sigmoidF1 on soft counts averaged over batches; returns ``(loss, new_state)``.

    The counts of the current batch are blended with an exponential moving
    average of the earlier batches' counts (:func:`VLAP.ops.core.ema_update`),
    so the F1 is that of roughly the last ``1 / (1 - momentum)`` batches and
    depends much less on the batch size; the gradient reaches the current
    batch only (``state`` holds constants).

    Args:
        state: tuple ``(tp, fp, tn, fn, decay)`` from the previous call, or
            None for the first batch.
        momentum: float in ``[0, 1)``; 0 is plain sigmoidF1.
        (others as :func:`sigmoid_f1`)

    Returns:
        ``(loss, new_state)``; store ``new_state`` without gradient (the Keras
        class :class:`VLAP.losses.EMASigmoidF1` does this for you).

    Example:
    >>> import VLAP
    >>> y, u = [[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
    >>> loss, state = VLAP.losses.ema_sigmoid_f1(y, u, None, momentum=0.9)
    >>> round(float(loss), 4) == round(float(VLAP.losses.sigmoid_f1(y, u)), 4)
    True
    """
    check_loss_options(momentum=momentum, average=average, from_logits=from_logits,
                       beta=beta, eta=eta, epsilon=epsilon)
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    counts = core.soft_confusion(KERAS_OPS, y_true, y_pred, from_logits=from_logits,
                                 beta=beta, eta=eta,
                                 sample_weight=entry_weights(sample_weight, y_pred))
    counts = sum_across_replicas(counts)
    if state is None:
        zero = counts[0] * 0.0
        state = (zero, zero, zero, zero, 1.0)
    else:  # arrays of any kind (NumPy, a variable's value) as tensors of the counts' dtype
        import keras

        state = tuple(keras.ops.cast(keras.ops.convert_to_tensor(s), counts[0].dtype)
                      for s in state)
    new_state, corrected = core.ema_update(state, counts, momentum=momentum)
    loss = 1.0 - core.reduce_score(KERAS_OPS, "fbeta", *corrected, average=average,
                                   f_beta=1.0, epsilon=epsilon)
    return loss, new_state


def dual_head(y_true, y_pred, *, surrogate="sigmoid_f1", baseline="binary_crossentropy",
              weight=1.0, surrogate_kwargs=None, baseline_kwargs=None, from_logits=True,
              sample_weight=None, validate_args=True):
    """Loss of a dual-head model: the surrogate on the decision head, ``weight`` times
    the element-wise loss on the score head.

    Formula: ``surrogate(y_true, decision) + weight * mean_i baseline(y_true, score)``
    where ``decision, score = split_dual_logits(y_pred)``. Each term reaches only its
    own head (and the shared trunk): the decision head is free to be as liberal as
    the surrogate wants, the score head keeps BCE's calibrated ranking.

    Args:
        y_true: array ``(batch_size, num_labels)`` of 0/1.
        y_pred: logits ``(batch_size, 2 * num_labels)``: decision head, then score head.
        surrogate, baseline, surrogate_kwargs, baseline_kwargs, from_logits,
            sample_weight, validate_args: as :func:`weighted_sum`.
        weight: float >= 0. The score head's weight λ (0 leaves the score head untrained).

    Returns:
        A scalar tensor.

    Example:
    >>> import keras, VLAP
    >>> y_true = [[1, 0, 1], [0, 1, 0]]
    >>> decide = [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
    >>> score = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]
    >>> both = [d + s for d, s in zip(decide, score)]  # (batch, 2 * num_labels)
    >>> total = float(VLAP.losses.dual_head(y_true, both, weight=0.3))
    >>> parts = float(VLAP.losses.sigmoid_f1(y_true, decide)) + 0.3 * float(
    ...     keras.ops.mean(VLAP.losses.binary_crossentropy(y_true, score)))
    >>> round(total, 5) == round(parts, 5)
    True
    """
    check_loss_options(weight=weight, from_logits=from_logits)
    _, s_fn = resolve_part("surrogate", surrogate, _BATCH, surrogate_kwargs)
    base = resolve_part("baseline", baseline, _ELEMENTWISE, baseline_kwargs)
    import keras

    y_pred = keras.ops.convert_to_tensor(y_pred)
    y_true = keras.ops.convert_to_tensor(y_true)
    decision, score = split_dual_logits(y_pred, y_true.shape[-1])
    y_d, decision = prepare(y_true, decision, from_logits=from_logits,
                            validate_args=validate_args)
    y_s, score = prepare(y_true, score, from_logits=from_logits, validate_args=validate_args)
    value = s_fn(y_d, decision, from_logits=from_logits, sample_weight=sample_weight,
                 validate_args=False, **(surrogate_kwargs or {}))
    if weight:
        value = value + weight * _weighted_mean(
            base, y_s, score, sample_weight, from_logits=from_logits,
            validate_args=False, **(baseline_kwargs or {}))
    return value
