"""Multilabel losses in ``keras.ops``: sigmoidF1, its confusion-matrix family, baselines.

Every loss exists as a plain function ``f(y_true, y_pred, **options)`` and as a
registered, serializable :class:`keras.losses.Loss` subclass. They run unchanged
on the TensorFlow, PyTorch and JAX backends. Native ``torch.nn.Module`` versions,
sharing the same formulas, live in :mod:`VLAP.torch`.

Two kinds:

* **Batch-level surrogates** (sigmoidF1, unboundedF1, F-beta, precision, recall,
  Jaccard, MCC): the soft confusion counts are sums over the whole batch, so the
  functions return one scalar. ``sample_weight`` weights the rows *inside* the
  counts (a weight of 0 removes an example), it does not rescale the scalar.
* **Element-wise baselines** (binary cross-entropy, focal, ASL): the functions
  return one value per example (mean over labels), as ``keras.losses`` does; the
  classes average over the batch.

All take logits by default (``from_logits=True``): give the model a linear last
layer. ``average`` follows scikit-learn: ``"macro"`` = F1 per label then mean
(what the paper's code computes, and what the paper calls "micro"), ``"micro"`` =
pooled counts (the paper's "macro").

Example:
>>> import VLAP
>>> y_true = [[1, 0, 1], [0, 1, 0]]
>>> logits = [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
>>> round(float(VLAP.losses.sigmoid_f1(y_true, logits)), 4)
0.2405
>>> loss = VLAP.losses.get("sigmoidF1", beta=10.0, eta=0.0)
>>> round(float(loss(y_true, logits)), 4)
0.0022
"""

import keras
from keras import ops as _k

from VLAP.ops import core
from VLAP.ops.soft import KERAS_OPS, prepare, soft_score
from VLAP.ops.core import AVERAGES, check_option, check_sigmoid_args

_PACKAGE = "VLAP"


# --------------------------------------------------------------------------
# argument checks (Python level, before any tracing)


def _check_number(name, value, *, low=None, low_inclusive=True, high=None,
                  allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number. Received: {name}={value!r}")
    bad_low = low is not None and (value < low if low_inclusive else value <= low)
    if bad_low or (high is not None and value > high) or value != value:
        rng = f"{'[' if low_inclusive else '('}{low}, {high if high is not None else 'inf'}]"
        raise ValueError(f"`{name}` must be in {rng}. Received: {name}={value!r}")


# --------------------------------------------------------------------------
# batch-level surrogates: one mechanism, ``1 - soft_score``


def soft_score_loss(score, y_true, y_pred, *, average="macro", from_logits=True,
                    beta=1.0, eta=0.0, f_beta=1.0, epsilon=core.DEFAULT_EPSILON,
                    sample_weight=None, validate_args=True):
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
        sample_weight: optional ``(batch_size,)`` row weights inside the counts.
        validate_args: bool. Check 0/1 labels and NaN on concrete inputs.

    Returns:
        A scalar tensor. For MCC the loss is ``1 - MCC``, in ``[0, 2]``.
    """
    # A loss needs a scalar: no per-label average (None), unlike the soft scores.
    check_option("average", average, ("macro", "micro"))
    _check_number("epsilon", epsilon, low=0.0)
    if score == "fbeta":
        _check_number("f_beta", f_beta, low=0.0, low_inclusive=False)
    return 1.0 - soft_score(score, y_true, y_pred, average=average,
                            from_logits=from_logits, beta=beta, eta=eta, f_beta=f_beta,
                            epsilon=epsilon, sample_weight=sample_weight,
                            validate_args=validate_args)


def sigmoid_f1(y_true, y_pred, *, beta=1.0, eta=0.0, average="macro",
               from_logits=True, epsilon=core.DEFAULT_EPSILON, sample_weight=None,
               validate_args=True):
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
        sample_weight: optional ``(batch_size,)`` row weights inside the counts.
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
    return soft_score_loss("fbeta", y_true, y_pred, average=average,
                           from_logits=from_logits, beta=beta, eta=eta, f_beta=1.0,
                           epsilon=epsilon, sample_weight=sample_weight,
                           validate_args=validate_args)


def unbounded_f1(y_true, y_pred, *, average="macro", from_logits=True,
                 epsilon=core.DEFAULT_EPSILON, sample_weight=None, validate_args=True):
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
    return soft_score_loss("fbeta", y_true, y_pred, average=average,
                           from_logits=from_logits, f_beta=1.0, epsilon=epsilon,
                           sample_weight=sample_weight, validate_args=validate_args)


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


def binary_crossentropy(y_true, y_pred, *, from_logits=True,
                        epsilon=core.DEFAULT_EPSILON, validate_args=True):
    """Binary cross-entropy per example (mean over labels), stable for any logit.

    Example:
    >>> import VLAP
    >>> [round(float(v), 4) for v in VLAP.losses.binary_crossentropy([[1, 0]], [[2.0, -1.0]])]
    [0.2201]
    """
    check_sigmoid_args(from_logits, 1.0, 0.0)
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    return core.binary_crossentropy(KERAS_OPS, y_true, y_pred,
                                    from_logits=from_logits, epsilon=epsilon)


def focal(y_true, y_pred, *, alpha=0.25, gamma=2.0, from_logits=True,
          epsilon=core.DEFAULT_EPSILON, validate_args=True):
    """Focal loss per example (Lin et al. 2017), mean over labels.

    Formula: ``-alpha_t * (1 - p_t)**gamma * log(p_t)`` with ``p_t = p`` and
    ``alpha_t = alpha`` for positives, ``p_t = 1 - p`` and ``alpha_t = 1 - alpha``
    for negatives. ``alpha=None`` drops the class weighting.

    Example:
    >>> import VLAP
    >>> [round(float(v), 4) for v in VLAP.losses.focal([[1, 0]], [[2.0, -1.0]])]
    [0.0087]
    """
    check_sigmoid_args(from_logits, 1.0, 0.0)
    _check_number("alpha", alpha, low=0.0, high=1.0, allow_none=True)
    _check_number("gamma", gamma, low=0.0)
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    return core.focal(KERAS_OPS, y_true, y_pred, alpha=alpha, gamma=gamma,
                      from_logits=from_logits, epsilon=epsilon)


def asymmetric(y_true, y_pred, *, gamma_neg=4.0, gamma_pos=1.0, clip=0.05,
               from_logits=True, epsilon=1e-8, validate_args=True):
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
    check_sigmoid_args(from_logits, 1.0, 0.0)
    _check_number("gamma_neg", gamma_neg, low=0.0)
    _check_number("gamma_pos", gamma_pos, low=0.0)
    _check_number("clip", clip, low=0.0, high=1.0)
    y_true, y_pred = prepare(y_true, y_pred, from_logits=from_logits,
                             validate_args=validate_args)
    return core.asymmetric(KERAS_OPS, y_true, y_pred, gamma_neg=gamma_neg,
                           gamma_pos=gamma_pos, clip=clip, from_logits=from_logits,
                           epsilon=epsilon)


# --------------------------------------------------------------------------
# Keras Loss classes: every constructor argument is an attribute and in get_config


class _VLAPLoss(keras.losses.Loss):
    """Base: ``call`` delegates to the loss function with the stored options."""

    fn = None

    def __init__(self, *, name, reduction="sum_over_batch_size", dtype=None, **options):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        for key, value in options.items():
            setattr(self, key, value)
        self._option_names = tuple(options)
        # Validate the options now, in Python, so a bad one fails at construction.
        self._compute([[0.0]], [[0.0]], **{**self._options(), "validate_args": False})

    def _options(self):
        return {key: getattr(self, key) for key in self._option_names}

    def _compute(self, y_true, y_pred, **kwargs):
        return type(self).fn(y_true, y_pred, **kwargs)

    def call(self, y_true, y_pred):
        return self._compute(y_true, y_pred, **self._options())

    def get_config(self):
        config = super().get_config()
        config.update(self._options())
        return config


class _BatchLoss(_VLAPLoss):
    """Batch-level surrogate: ``sample_weight`` goes into the soft counts.

    Keras would otherwise multiply the batch's scalar by the weights and average,
    which only rescales it; here a weight of 0 removes an example from the counts.
    """

    def __call__(self, y_true, y_pred, sample_weight=None):
        with keras.name_scope(self.name):
            y_pred = _k.convert_to_tensor(y_pred, dtype=self.dtype)
            y_true = _k.convert_to_tensor(y_true, dtype=self.dtype)
            if sample_weight is not None:
                sample_weight = _k.reshape(
                    _k.convert_to_tensor(sample_weight, dtype=self.dtype), (-1,))
            return self._compute(y_true, y_pred, sample_weight=sample_weight,
                                 **self._options())


def _register(cls):
    return keras.saving.register_keras_serializable(package=_PACKAGE)(cls)


_D = core.DEFAULT_EPSILON
_R = "sum_over_batch_size"


@_register
class SigmoidF1(_BatchLoss):
    """Keras loss for :func:`sigmoid_f1` (arguments as there).

    Example:
    >>> import keras, VLAP
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model.compile(optimizer="adam", loss=VLAP.losses.SigmoidF1(beta=5.0))
    """

    fn = staticmethod(sigmoid_f1)

    def __init__(self, beta=1.0, eta=0.0, average="macro", from_logits=True,
                 epsilon=_D, validate_args=True, name="sigmoid_f1", reduction=_R,
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, beta=beta,
                         eta=eta, average=average, from_logits=from_logits,
                         epsilon=epsilon, validate_args=validate_args)


@_register
class UnboundedF1(_BatchLoss):
    """Keras loss for :func:`unbounded_f1`."""

    fn = staticmethod(unbounded_f1)

    def __init__(self, average="macro", from_logits=True, epsilon=_D,
                 validate_args=True, name="unbounded_f1", reduction=_R, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, average=average,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


class _SoftScoreLoss(_BatchLoss):
    """``1 - soft score`` for the score named by the subclass's ``score``."""

    score = None

    def __init__(self, beta=1.0, eta=0.0, average="macro", from_logits=True,
                 epsilon=_D, validate_args=True, name=None, reduction=_R, dtype=None,
                 **extra):
        super().__init__(name=name or f"{self.score}_loss", reduction=reduction,
                         dtype=dtype, beta=beta, eta=eta, average=average,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args, **extra)

    def _compute(self, y_true, y_pred, **kwargs):
        return soft_score_loss(self.score, y_true, y_pred, **kwargs)


@_register
class FBetaLoss(_SoftScoreLoss):
    """Keras loss for :func:`fbeta_loss`; ``f_beta`` is F-beta's own beta."""

    score = "fbeta"

    def __init__(self, f_beta=1.0, **kwargs):
        super().__init__(f_beta=f_beta, **kwargs)


@_register
class PrecisionLoss(_SoftScoreLoss):
    """Keras loss for :func:`precision_loss`."""

    score = "precision"


@_register
class RecallLoss(_SoftScoreLoss):
    """Keras loss for :func:`recall_loss`."""

    score = "recall"


@_register
class JaccardLoss(_SoftScoreLoss):
    """Keras loss for :func:`jaccard_loss`."""

    score = "jaccard"


@_register
class MCCLoss(_SoftScoreLoss):
    """Keras loss for :func:`mcc_loss`."""

    score = "mcc"


@_register
class BinaryCrossentropy(_VLAPLoss):
    """Keras loss for :func:`binary_crossentropy`."""

    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=True, epsilon=_D, validate_args=True,
                 name="binary_crossentropy", reduction=_R, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


@_register
class Focal(_VLAPLoss):
    """Keras loss for :func:`focal`."""

    fn = staticmethod(focal)

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=True, epsilon=_D,
                 validate_args=True, name="focal", reduction=_R, dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


@_register
class Asymmetric(_VLAPLoss):
    """Keras loss for :func:`asymmetric` (ASL)."""

    fn = staticmethod(asymmetric)

    def __init__(self, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, from_logits=True,
                 epsilon=1e-8, validate_args=True, name="asymmetric", reduction=_R,
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype,
                         gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip,
                         from_logits=from_logits, epsilon=epsilon,
                         validate_args=validate_args)


# --------------------------------------------------------------------------
# names: the paper's camelCase names are the same objects as the snake_case ones

sigmoidF1 = sigmoid_f1
unboundedF1 = unbounded_f1
binaryCrossentropy = binary_crossentropy
focal_loss = focal
asl = asymmetric
ASL = Asymmetric

# string name -> Loss class (what TOML configs and the CLI use)
_CLASSES = {
    "sigmoid_f1": SigmoidF1,
    "unbounded_f1": UnboundedF1,
    "binary_crossentropy": BinaryCrossentropy,
    "focal": Focal,
    "asymmetric": Asymmetric,
    "fbeta": FBetaLoss,
    "precision": PrecisionLoss,
    "recall": RecallLoss,
    "jaccard": JaccardLoss,
    "mcc": MCCLoss,
}
_ALIASES = {
    "sigmoidf1": "sigmoid_f1",
    "unboundedf1": "unbounded_f1",
    "bce": "binary_crossentropy",
    "binarycrossentropy": "binary_crossentropy",
    "ce": "binary_crossentropy",
    "fl": "focal",
    "focal_loss": "focal",
    "asl": "asymmetric",
    "fbeta_loss": "fbeta",
    "f1": "fbeta",
    "iou": "jaccard",
    "jaccard_loss": "jaccard",
    "precision_loss": "precision",
    "recall_loss": "recall",
    "mcc_loss": "mcc",
}

#: The five losses the paper compares, by canonical name.
PAPER_LOSSES = ("sigmoid_f1", "unbounded_f1", "binary_crossentropy", "focal",
                "asymmetric")


def canonical_name(name):
    """Map any accepted loss name (``"sigmoidF1"``, ``"BCE"``, ...) to its canonical one."""
    if not isinstance(name, str):
        raise TypeError(f"A loss name must be a str. Received: {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key.replace("_", ""), _ALIASES.get(key, key))
    if key not in _CLASSES:
        known = sorted(set(_CLASSES) | set(_ALIASES))
        raise ValueError(f"Unknown loss {name!r}. Known names: {known}")
    return key


def get(identifier, **kwargs):
    """Resolve a loss: a name (paper or snake_case), a Loss instance, or a config dict.

    Example:
    >>> import VLAP
    >>> type(VLAP.losses.get("sigmoidF1", beta=8.0)).__name__
    'SigmoidF1'
    >>> VLAP.losses.get("ASL").clip
    0.05
    """
    if isinstance(identifier, keras.losses.Loss):
        if kwargs:
            raise ValueError("Options can only be given with a loss name, "
                             f"not with an instance. Received: {sorted(kwargs)}")
        return identifier
    if isinstance(identifier, dict):
        return keras.losses.deserialize(identifier)
    return _CLASSES[canonical_name(identifier)](**kwargs)


__all__ = [
    "sigmoid_f1", "sigmoidF1", "SigmoidF1", "unbounded_f1", "unboundedF1",
    "UnboundedF1", "soft_score_loss", "fbeta_loss", "precision_loss", "recall_loss",
    "jaccard_loss", "mcc_loss", "FBetaLoss", "PrecisionLoss", "RecallLoss",
    "JaccardLoss", "MCCLoss", "binary_crossentropy", "binaryCrossentropy",
    "BinaryCrossentropy", "focal", "focal_loss", "Focal", "asymmetric", "asl", "ASL",
    "Asymmetric", "get", "canonical_name", "PAPER_LOSSES", "AVERAGES",
]
