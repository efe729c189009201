"""The loss functions: ``f(y_true, y_pred, **options)`` in ``keras.ops``.

Batch-level surrogates (sigmoidF1, unboundedF1 and the soft-score family) return
one scalar: ``1 - score`` of the soft counts of the **global** batch. Under
``tf.distribute`` the per-replica counts are summed across replicas before the
score is reduced (:func:`VLAP.ops.soft.sum_across_replicas`), so the value and
its gradient do not depend on the number of replicas. Under JAX's
``keras.distribution.DataParallel`` the batch is one sharded array and the sums
are global already. ``sample_weight`` weights rows ``(batch,)`` or entries
``(batch, num_labels)`` *inside* the counts.

Element-wise baselines (BCE, focal, ASL) return one value per example.

Every function computes in ``float32`` at least: half-precision logits from a
mixed-precision model are cast up first.
"""

from typing import Any, Literal

from VLAP.ops import core, registry
from VLAP.ops.core import check_loss_options, check_option
from keras import ops as _k

from VLAP.ops.soft import (KERAS_OPS, entry_weights, max_across_replicas, prepare,
                           sum_across_replicas)

#: ``average`` of the batch-level losses (scikit-learn's meaning).
Average = Literal["macro", "micro"]
#: The smooth confusion-matrix scores (:data:`VLAP.ops.core.SCORES`).
Score = Literal["fbeta", "precision", "recall", "jaccard", "mcc"]


# --------------------------------------------------------------------------
# every registered loss on keras.ops: its formula from VLAP.ops.registry


def _batch_value(formula, y_true, y_pred, options, sample_weight):
    """A batch formula on prepared tensors: counts (weights inside), summed over
    ``tf.distribute`` replicas, then finished. A formula with a ``shift`` (sums of
    exponentials) gets the maximum of the replicas' shifts, without gradient."""
    weights = entry_weights(sample_weight, y_pred)
    extra = {}
    if formula.shift is not None:
        shift = registry.call_formula(formula.shift, KERAS_OPS, y_true, y_pred,
                                      options=options, sample_weight=weights)
        shift = max_across_replicas(tuple(_k.stop_gradient(t) for t in shift))
        extra["shift"] = shift
    counts = registry.call_formula(formula.counts, KERAS_OPS, y_true, y_pred,
                                   options=options, sample_weight=weights, **extra)
    counts = sum_across_replicas(tuple(counts))
    return registry.call_formula(formula.finish, KERAS_OPS, counts, options=options,
                                 **extra)


def formula_value(spec, y_true, y_pred, options, sample_weight=None):
    """The value of a registered loss on prepared tensors, its options checked.

    Batch-level: one scalar (the global batch's under ``tf.distribute``).
    Element-wise: one value per example; ``sample_weight`` only for a loss that
    takes entry weights inside its formula (``label_count_error``).
    """
    if spec.formula is None:
        raise ValueError(f"Loss {spec.name!r} has no formula of its own (a composite "
                         "or stateful loss): use its class.")
    if spec.kind == "batch":
        return _batch_value(spec.formula, y_true, y_pred, options, sample_weight)
    if spec.weights_inside:
        return registry.call_formula(spec.formula, KERAS_OPS, y_true, y_pred,
                                     options=options,
                                     sample_weight=entry_weights(sample_weight, y_pred))
    if sample_weight is not None:
        raise ValueError(f"The element-wise loss {spec.name!r} returns one value per "
                         "example: weight them with its class (`loss(y_true, y_pred, "
                         "sample_weight)`), not in its function.")
    return registry.call_formula(spec.formula, KERAS_OPS, y_true, y_pred, options=options)


def loss_value(name, y_true, y_pred, *, sample_weight=None, validate_args=True, **options):
    """Any registered loss by name on ``keras.ops``: its options checked, the inputs
    prepared (see :func:`VLAP.ops.soft.prepare`), then its formula.

    Example:
    >>> import VLAP
    >>> y_true, logits = [[1, 0, 1], [0, 1, 0]], [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
    >>> round(float(loss_value("sigmoidF1", y_true, logits, beta=10.0)), 4)
    0.0022
    """
    spec = registry.loss_spec(name)
    options = registry.check_options(spec, options)
    y_true, y_pred = prepare(y_true, y_pred, from_logits=options.get("from_logits", True),
                             validate_args=validate_args)
    return formula_value(spec, y_true, y_pred, options, sample_weight)


# --------------------------------------------------------------------------
# batch-level surrogates: one mechanism, ``1 - soft_score``


def soft_score_loss(score: Score, y_true: Any, y_pred: Any, *, average: Average = "macro",
                    from_logits: bool = True, beta: float = 1.0, eta: float = 0.0,
                    f_beta: float = 1.0, epsilon: float = core.DEFAULT_EPSILON,
                    sample_weight: Any = None, validate_args: bool = True) -> Any:
    """``1 - score`` for any smooth confusion-matrix score.

    Args:
        score: str. One of ``"fbeta"``, ``"precision"``, ``"recall"``,
            ``"jaccard"``, ``"mcc"``.
        y_true: array ``(batch_size, num_labels)`` of 0/1.
        y_pred: array of the same shape: logits, or the soft indicator S itself
            when ``from_logits=False``.
        average: str. ``"macro"`` or ``"micro"`` (scikit-learn's meaning).
        from_logits: bool.
        beta: float. Slope of ``S(u) = sigmoid(beta * (u + eta))``.
        eta: float. Offset of S.
        f_beta: float. F-beta's own beta (only for ``score="fbeta"``).
        epsilon: float. Added to denominators.
        sample_weight: optional array ``(batch_size,)`` (row weights) or
            ``(batch_size, num_labels)`` (entry weights), applied inside the
            counts; any other shape raises a ValueError.
        validate_args: bool. Check 0/1 labels and NaN on concrete inputs.

    Returns:
        A scalar tensor (the score of the global batch under ``tf.distribute``).
        For MCC the loss is ``1 - MCC``, in ``[0, 2]``.
    """
    check_option("score", score, core.SCORES)
    # A loss needs a scalar: no per-label average (None), unlike the soft scores.
    options = dict(average=average, from_logits=from_logits, beta=beta, eta=eta,
                   epsilon=epsilon, f_beta=f_beta)
    check_loss_options(**options)
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    return _batch_value(registry.soft_score_formula(score), y_true, y_pred, options,
                        sample_weight)


def sigmoid_f1(y_true: Any, y_pred: Any, *, beta: float = 1.0, eta: float = 0.0,
               average: Average = "macro", from_logits: bool = True,
               epsilon: float = core.DEFAULT_EPSILON, sample_weight: Any = None,
               validate_args: bool = True) -> Any:
    """sigmoidF1 (Bénédict et al., TMLR 2022): ``1 - F1`` of smooth counts.

    Formula:
        ``S(u) = 1 / (1 + exp(-beta * (u + eta)))`` on the logit ``u``;
        ``tp = sum(S * y)``, ``fp = sum(S * (1 - y))``, ``fn = sum((1 - S) * y)``
        over the batch; ``F1 = 2tp / (2tp + fp + fn + epsilon)``; loss ``1 - F1``.

    The sigmoid is applied once, to the logit. (The paper's code applied it to
    the already-sigmoided probability, which at its defaults beta=10, eta=1 made
    S almost constant at 1 and the loss nearly flat.) This is
    ``soft_score_loss("fbeta", ..., f_beta=1)``.

    Args:
        y_true: array ``(batch_size, num_labels)`` of 0/1.
        y_pred: array of logits of the same shape.
        beta: float > 0. Slope of S (the paper searched 1..30).
        eta: float. Offset of S (the paper searched 0..2).
        average: str. ``"macro"``: F1 per label, then mean (as the paper's code;
            the paper's text calls it "micro"). ``"micro"``: pooled counts.
        from_logits: bool. False uses ``y_pred`` as S directly (beta, eta unused).
        epsilon: float. Keeps the ratio finite for empty labels.
        sample_weight: optional ``(batch_size,)`` or ``(batch_size, num_labels)``
            weights inside the counts (0 removes an example, or one label of it).
        validate_args: bool. Check 0/1 labels and NaN on concrete inputs.

    Returns:
        A scalar tensor in ``[0, 1]``.

    Example:
    >>> import VLAP
    >>> y_true = [[1, 0, 1], [0, 1, 0]]
    >>> logits = [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
    >>> round(float(VLAP.losses.sigmoid_f1(y_true, logits)), 4)
    0.2405
    >>> round(float(VLAP.losses.sigmoid_f1(y_true, logits, average="micro")), 4)
    0.2374

    Reference:
        Bénédict, Koops, Odijk, de Rijke. "sigmoidF1: A Smooth F1 Score
        Surrogate Loss for Multilabel Classification". TMLR 2022.
    """
    return loss_value("sigmoid_f1", y_true, y_pred, beta=beta, eta=eta, average=average,
                      from_logits=from_logits, epsilon=epsilon, sample_weight=sample_weight,
                      validate_args=validate_args)


def unbounded_f1(y_true: Any, y_pred: Any, *, average: Average = "macro",
                 from_logits: bool = True, epsilon: float = core.DEFAULT_EPSILON,
                 sample_weight: Any = None, validate_args: bool = True) -> Any:
    """unboundedF1: ``1 - F1`` with the plain probabilities as soft predictions.

    The paper's baseline: the counts use ``p = sigmoid(u)`` (or ``y_pred`` as
    given with ``from_logits=False``), with no tempering of slope or offset. It
    is therefore sigmoidF1 at ``beta=1, eta=0``; sigmoidF1 differs from it only
    through its ``beta`` and ``eta``.

    Example:
    >>> import VLAP
    >>> round(float(VLAP.losses.unbounded_f1([[1, 0]], [[0.9, 0.2]], from_logits=False)), 4)
    0.5263
    """
    return loss_value("unbounded_f1", y_true, y_pred, average=average,
                      from_logits=from_logits, epsilon=epsilon, sample_weight=sample_weight,
                      validate_args=validate_args)


def fbeta_loss(y_true, y_pred, *, f_beta=1.0, **kwargs):
    """``1 - soft F-beta``. Keyword arguments as :func:`soft_score_loss`."""
    return soft_score_loss("fbeta", y_true, y_pred, f_beta=f_beta, **kwargs)


def precision_loss(y_true, y_pred, **kwargs):
    """``1 - soft precision``. Keyword arguments as :func:`soft_score_loss`."""
    return soft_score_loss("precision", y_true, y_pred, **kwargs)


def recall_loss(y_true, y_pred, **kwargs):
    """``1 - soft recall``. Keyword arguments as :func:`soft_score_loss`."""
    return soft_score_loss("recall", y_true, y_pred, **kwargs)


def jaccard_loss(y_true, y_pred, **kwargs):
    """``1 - soft Jaccard (IoU)``. Keyword arguments as :func:`soft_score_loss`."""
    return soft_score_loss("jaccard", y_true, y_pred, **kwargs)


def mcc_loss(y_true, y_pred, **kwargs):
    """``1 - soft MCC``, in ``[0, 2]``. Keyword arguments as :func:`soft_score_loss`."""
    return soft_score_loss("mcc", y_true, y_pred, **kwargs)


# --------------------------------------------------------------------------
# element-wise baselines


def binary_crossentropy(y_true: Any, y_pred: Any, *, from_logits: bool = True,
                        epsilon: float = core.DEFAULT_EPSILON,
                        validate_args: bool = True) -> Any:
    """Binary cross-entropy per example (mean over labels), stable for any logit.

    Example:
    >>> import VLAP
    >>> [round(float(v), 4) for v in VLAP.losses.binary_crossentropy([[1, 0]], [[2.0, -1.0]])]
    [0.2201]
    """
    return loss_value("binary_crossentropy", y_true, y_pred, from_logits=from_logits,
                      epsilon=epsilon, validate_args=validate_args)


def focal(y_true: Any, y_pred: Any, *, alpha: "float | None" = 0.25, gamma: float = 2.0,
          from_logits: bool = True, epsilon: float = core.DEFAULT_EPSILON,
          validate_args: bool = True) -> Any:
    """Focal loss per example (Lin et al. 2017), mean over labels.

    Formula: ``-alpha_t * (1 - p_t)**gamma * log(p_t)`` with ``p_t = p`` and
    ``alpha_t = alpha`` for positives, ``p_t = 1 - p`` and ``alpha_t = 1 - alpha``
    for negatives. ``alpha=None`` drops the class weighting.

    Example:
    >>> import VLAP
    >>> [round(float(v), 4) for v in VLAP.losses.focal([[1, 0]], [[2.0, -1.0]])]
    [0.0087]
    """
    return loss_value("focal", y_true, y_pred, alpha=alpha, gamma=gamma,
                      from_logits=from_logits, epsilon=epsilon, validate_args=validate_args)


def asymmetric(y_true: Any, y_pred: Any, *, gamma_neg: float = 4.0, gamma_pos: float = 1.0,
               clip: float = 0.05, from_logits: bool = True, epsilon: float = 1e-8,
               validate_args: bool = True) -> Any:
    """Asymmetric loss, ASL (Ridnik et al., ICCV 2021), per example.

    Formula: ``L+ = (1 - p)**gamma_pos * log(p)`` for positives and
    ``L- = p_m**gamma_neg * log(1 - p_m)`` with ``p_m = max(p - clip, 0)`` for
    negatives; loss ``-(y L+ + (1 - y) L-)``, mean over labels. The clipping
    (probability margin) is applied, unlike the paper's code. The published
    implementation sums over the batch and labels; this one averages, which only
    rescales the gradient.

    Example:
    >>> import VLAP
    >>> [round(float(v), 4) for v in VLAP.losses.asymmetric([[1, 0]], [[2.0, -1.0]])]
    [0.0078]
    """
    return loss_value("asymmetric", y_true, y_pred, gamma_neg=gamma_neg,
                      gamma_pos=gamma_pos, clip=clip, from_logits=from_logits,
                      epsilon=epsilon, validate_args=validate_args)


def label_count_error(y_true, y_pred, *, from_logits=True, sample_weight=None,
                      validate_args=True):
    """Soft label-count error per example: ``|sum_j p_j - sum_j y_j|``, in labels.

    A calibration term, not a loss to train with alone: added to an F1
    surrogate (``weighted_sum(..., baseline="label_count_error")``) it pulls the
    expected number of predicted labels of each example towards the true
    number, which the F1 surrogates tend to overshoot. ``sample_weight`` of
    shape ``(batch, num_labels)`` weights the entries inside the sums.

    Example:
    >>> import VLAP
    >>> [round(float(v), 4) for v in VLAP.losses.label_count_error(
    ...     [[1, 0, 1]], [[0.9, 0.6, 0.2]], from_logits=False)]
    [0.3]
    """
    return loss_value("label_count_error", y_true, y_pred, from_logits=from_logits,
                      sample_weight=sample_weight, validate_args=validate_args)


# --------------------------------------------------------------------------
# relative losses: the multilabel literature's rivals of sigmoidF1 (issue 27)


def zlpr(y_true, y_pred, *, from_logits=True, sample_weight=None, validate_args=True):
    """ZLPR, the multilabel categorical cross-entropy (Su et al. 2022), per example.

    Formula (Su, Zhu, Wen, Cao, Ma, Wu, Ou, Zhou and Li, "ZLPR: A Novel Loss for
    Multi-label Classification", 2022), for the logits ``s`` of one example:
    ``log(1 + sum_{i in neg} e^{s_i}) + log(1 + sum_{j in pos} e^{-s_j})``.
    It is softmax cross-entropy with a threshold class of logit 0, so its
    **decision cut is logit 0** (probability 0.5) and it needs no threshold
    tuning. One value per example (a sum over its labels: it is not separable
    by label); the class averages the examples.

    ``sample_weight`` here (as a part of ``weighted_sum``): ``(batch,)`` or
    ``(batch, 1)`` multiply each example's value, ``(batch, num_labels)``
    multiply the exponentials inside the sums (0 removes that label of the
    example). See :func:`VLAP.ops.core.zlpr`.

    Example:
    >>> import VLAP
    >>> [round(float(v), 4) for v in VLAP.losses.zlpr([[1, 0, 1]], [[2.0, -1.0, 0.5]])]
    [0.8682]
    """
    return loss_value("zlpr", y_true, y_pred, from_logits=from_logits,
                      sample_weight=sample_weight, validate_args=validate_args)


def two_way(y_true, y_pred, *, t_pos=4.0, t_neg=1.0, from_logits=True, sample_weight=None,
            validate_args=True):
    """The Two-way Multi-Label Loss (Kobayashi, CVPR 2023): one scalar per batch.

    Formula (Kobayashi, "Two-way Multi-Label Loss", CVPR 2023: its relative loss
    with temperatures, applied both ways; as in the paper's public code, whose
    soft mask of -100 is replaced here by exact sets), for a set of logits with
    positives ``P`` and negatives ``N``:

        ``l(x) = softplus(Tn log sum_{n in N} e^{x_n / Tn} + Tp log sum_{p in P} e^{-x_p / Tp})``

    The loss is the mean of ``l`` over the batch's **samples** (each row's labels;
    rows with a positive) plus the mean of ``l`` over the **classes** (each
    column's samples in the batch; classes with a positive in the batch).
    ``t_pos`` (the paper's Tp) and ``t_neg`` (Tn) default to the paper's 4 and 1.
    It compares positives with negatives: ``l`` is smallest when every positive
    logit is above every negative one with margin. **Decision cut:** the loss
    depends on logit *differences* only (adding one constant to every logit
    leaves it unchanged), so unlike ZLPR it pins no cut by itself; the paper
    scores rankings (mAP per class and per sample). VLAP decides at its usual
    logit 0 (probability 0.5); with this loss, tune the per-label cuts on
    validation (``threshold="tuned"``) before trusting decisions at 0.

    The class-wise term spans the batch: under ``tf.distribute`` each replica's
    exponential sums are shifted by the maximum exponent over all replicas
    (gathered, without gradient), then summed across replicas, so the loss and
    its gradient are the global batch's, with no overflow for any logit.
    ``sample_weight`` ``(batch,)`` or ``(batch, num_labels)`` multiplies the
    exponentials inside every sum (an entry weighted ``w`` counts as ``w``
    copies; 0 removes it from its sample's and its class's sets). See
    :func:`VLAP.ops.core.two_way_counts`.

    Example:
    >>> import VLAP
    >>> round(float(VLAP.losses.two_way([[1, 0, 1], [0, 1, 0]],
    ...                                 [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]])), 4)
    0.6718
    """
    return loss_value("two_way", y_true, y_pred, t_pos=t_pos, t_neg=t_neg,
                      from_logits=from_logits, sample_weight=sample_weight,
                      validate_args=validate_args)
