"""The decision rule as one value: :class:`DecisionRule`.

A decision rule turns a model's outputs ``(n, num_labels)`` into 0/1
decisions. VLAP has one value type for it, framework-free (NumPy only), that
every front-end takes: :func:`VLAP.evaluate`,
:func:`VLAP.evaluation.evaluate_predictions`, the streaming
:class:`~VLAP.evaluation.MultilabelEvaluator`, the Keras
:class:`~VLAP.inference.Decision` layer inside a packaged model,
:func:`~VLAP.inference.package_model`, ``vlap run`` and
:func:`VLAP.torch.hf.metrics_for_trainer`.

Built-in rules (each made by a factory that validates it once):

* :meth:`DecisionRule.threshold` / :meth:`DecisionRule.per_label` /
  :meth:`DecisionRule.cut_points`: a label is predicted when its logit is
  above its cut point (:class:`CutPoints`). Cut points are kept as float64
  logits; this module is the only place that converts between probabilities
  and logits, and the comparison is exact in the outputs' dtype
  (:func:`exact_cut`), for logit and probability outputs alike;
* :meth:`DecisionRule.top_k`: the ``k`` highest outputs of each example
  (:class:`TopK`, ties to the lower label index on every backend).

Each rule also says which head of a dual-head model decides (``head``:
``"decision"``, the default, or ``"score"``) and how it was chosen
(``strategy``: ``"fixed"``, ``"per_label"``, ``"tuned"``, ``"top_k"``...).

A rule is written once, on an array namespace ``xp`` (:data:`NUMPY_DECISION_OPS`
here, ``keras.ops`` in the :class:`~VLAP.inference.Decision` layer), so a new
rule is one subclass registered with :func:`register_rule` (see the README's
"Add a decision rule").

Example:
>>> import numpy as np
>>> from VLAP.inference.rule import DecisionRule
>>> rule = DecisionRule.per_label([0.5, 0.3, 0.9])
>>> rule.apply(np.array([[0.4, -0.4, 2.0]], "float32")).tolist()  # logits
[[1, 1, 0]]
>>> DecisionRule.top_k(1).apply([[0.2, 0.7, 0.7]]).tolist()
[[0, 1, 0]]
>>> DecisionRule.from_config(rule.get_config()) == rule
True
"""

import json
import numbers

import numpy as np
from scipy.special import expit

from VLAP._validation import to_numpy

DEFAULT_THRESHOLD = 0.5
#: Which head of a dual-head model (:class:`VLAP.models.DualHeadLogits`) decides.
HEADS = ("decision", "score")

_RULES: "dict[str, type[DecisionRule]]" = {}  # kind -> DecisionRule subclass


# --- probabilities and logits: the one conversion -----------------------------


def logit(p) -> np.ndarray:
    """``log(p / (1 - p))`` in float64 (``-inf`` at 0, ``inf`` at 1).

    Example:
    >>> logit([0.5, 0.0]).tolist()
    [0.0, -inf]
    """
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def as_logits(outputs, from_logits: bool = True) -> np.ndarray:
    """A model's outputs as float64 logits, for tuning cut points on them.

    Probability outputs (``from_logits=False``) are clipped into the open
    interval (0, 1) first, so every logit is finite.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if from_logits:
        return outputs
    return logit(np.clip(outputs, 1e-300, np.nextafter(1.0, 0.0)))


def as_probabilities(outputs, from_logits: bool = True) -> np.ndarray:
    """A model's outputs as float64 probabilities (a float32 sigmoid would round
    every logit above about 17 to 1.0)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    return expit(outputs) if from_logits else outputs


def exact_cut(threshold, dtype) -> np.ndarray:
    """The cut in ``dtype`` that float ``scores > cut`` agrees with ``> threshold``.

    For float32 scores, the largest float32 not above the (float64) threshold:
    ``s > threshold`` holds exactly when ``s > cut``, so the comparison needs
    no float64 copy of the scores.
    """
    t = np.asarray(threshold, dtype=np.float64)
    if np.dtype(dtype) != np.float32:
        return t
    cut = t.astype(np.float32)
    return np.where(cut > t, np.nextafter(cut, np.float32(-np.inf)), cut)


def split_heads(outputs, heads):
    """``(decision outputs, score outputs)``: the same array twice for one head."""
    if heads == 1:
        return outputs, outputs
    half = outputs.shape[1] // 2
    return outputs[:, :half], outputs[:, half:]


# --- the array namespace a rule is written on ---------------------------------


class _NumpyDecisionOps:
    """The array functions a rule's :meth:`DecisionRule.decide` uses, on NumPy.

    The Keras :class:`~VLAP.inference.Decision` layer passes the same functions
    on ``keras.ops``, so one formula serves NumPy and every Keras backend.
    """

    greater = staticmethod(np.greater)
    equal = staticmethod(np.equal)
    less_equal = staticmethod(np.less_equal)
    logical_and = staticmethod(np.logical_and)
    logical_or = staticmethod(np.logical_or)

    @staticmethod
    def dtype(x):
        """The NumPy dtype of ``x``."""
        return np.asarray(x).dtype

    @staticmethod
    def constant(values, like):
        """``values`` (a NumPy array) as an array to compare ``like`` with."""
        return values

    @staticmethod
    def kth_largest(x, k):
        """The k-th largest value of each row, shape ``(n, 1)``."""
        return -np.partition(-x, k - 1, axis=-1)[..., k - 1:k]

    @staticmethod
    def count(mask):
        """How many entries of each row are true, shape ``(n, 1)``."""
        return mask.sum(-1, keepdims=True)

    @staticmethod
    def running_count(mask):
        """How many entries up to each one (included) are true, along each row."""
        return np.cumsum(mask, axis=-1)


NUMPY_DECISION_OPS = _NumpyDecisionOps()


# --- the value type -------------------------------------------------------------


class _Frozen(type):
    """Instances are immutable once their ``__init__`` has run."""

    def __call__(cls, *args, **kwargs):
        obj = super().__call__(*args, **kwargs)
        object.__setattr__(obj, "_frozen", True)
        return obj


def register_rule(kind: str):
    """Class decorator: register a :class:`DecisionRule` subclass under ``kind``.

    :meth:`DecisionRule.from_config` then rebuilds it from its config (saved
    packaged models, TOML), as the dataset kinds of
    :func:`VLAP.experiments.kinds.register_kind` are found by name.
    """
    if not isinstance(kind, str) or not kind.isidentifier():
        raise ValueError(f"`kind` must be an identifier string. Received: kind={kind!r}")

    def register(cls):
        if not (isinstance(cls, type) and issubclass(cls, DecisionRule)):
            raise TypeError(f"register_rule({kind!r}) decorates a DecisionRule subclass. "
                            f"Received: {cls!r}")
        if kind in _RULES and _RULES[kind] is not cls:
            raise ValueError(f"A decision rule kind {kind!r} is already registered "
                             f"({_RULES[kind].__name__}).")
        cls.kind = kind
        _RULES[kind] = cls
        return cls

    return register


def rule_kinds() -> "tuple[str, ...]":
    """The registered decision-rule kinds."""
    return tuple(_RULES)


def _check_option(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"Invalid value for argument `{name}`. Expected one of "
                         f"{allowed}. Received: {name}={value!r}")
    return value


class DecisionRule(metaclass=_Frozen):
    """A decision rule: model outputs in, 0/1 decisions out. Immutable.

    Make one with a factory, which validates it: :meth:`threshold`,
    :meth:`per_label`, :meth:`cut_points`, :meth:`top_k` or
    :meth:`from_config`. A new kind of rule subclasses this class, implements
    :meth:`decide` (on an array namespace, so it runs on NumPy and in the Keras
    layer) and :meth:`arguments`, and registers with :func:`register_rule`.

    Args:
        head: str. Which head of a dual-head model decides: `"decision"`
            (default; its first `num_labels` outputs) or `"score"`.
        strategy: str or None. How the rule was chosen, for reports
            (`"fixed"`, `"tuned"`, ...); None: the kind's default.

    Attributes:
        kind: str. The registered name of the rule's class.
        thresholds: np.ndarray or None. The cut points as probabilities (None
            when the rule has none, as top-k).
        logits: np.ndarray or None. The cut points as float64 logits.
        k: int or None. The labels predicted per example by a top-k rule.
    """

    kind: "str | None" = None
    default_strategy: "str | None" = None
    thresholds: "np.ndarray | None" = None
    logits: "np.ndarray | None" = None
    k: "int | None" = None

    def __init__(self, *, head: str = "decision", strategy: "str | None" = None):
        _check_option("head", head, HEADS)
        if strategy is not None and not isinstance(strategy, str):
            raise TypeError(f"`strategy` must be a str or None. Received: strategy={strategy!r}")
        self.head = head
        self.strategy = strategy or self.default_strategy or self.kind

    def __setattr__(self, name, value):
        if getattr(self, "_frozen", False):
            raise AttributeError(f"A DecisionRule is immutable: use .replace({name}=...).")
        object.__setattr__(self, name, value)

    # --- factories: the one place where the options are checked ---------------

    @staticmethod
    def threshold(probability: float = DEFAULT_THRESHOLD, *, head: str = "decision",
                  strategy: "str | None" = None) -> "CutPoints":
        """One probability for every label: predict ``probability(logit) > probability``.

        Example:
        >>> DecisionRule.threshold(0.5).apply([[0.3, -0.2]]).tolist()
        [[1, 0]]
        """
        if isinstance(probability, bool) or not isinstance(probability, numbers.Real):
            raise TypeError("`threshold` must be a float, an array or 'tuned'. Received: "
                            f"threshold={probability!r}")
        if not 0.0 <= float(probability) <= 1.0:
            raise ValueError("`threshold` must be a probability in [0, 1]. "
                             f"Received: threshold={probability!r}")
        return CutPoints(probabilities=float(probability), head=head,
                         strategy=strategy or "fixed")

    @staticmethod
    def per_label(probabilities, *, head: str = "decision",
                  strategy: "str | None" = None) -> "CutPoints":
        """One probability threshold per label (e.g. from :func:`tune_thresholds`)."""
        return CutPoints(probabilities=probabilities, head=head, strategy=strategy)

    @staticmethod
    def cut_points(logits, *, head: str = "decision",
                   strategy: "str | None" = None) -> "CutPoints":
        """Cut points on the logits: one for every label or one per label
        (e.g. from :func:`tune_cut_points`)."""
        return CutPoints(logits=logits, head=head, strategy=strategy)

    @staticmethod
    def top_k(k: int, *, head: str = "decision", strategy: "str | None" = None) -> "TopK":
        """The `k` highest outputs of each example (ties: the lower label index)."""
        return TopK(k, head=head, strategy=strategy)

    @classmethod
    def from_config(cls, config: dict) -> "DecisionRule":
        """The rule of :meth:`get_config` (or of a saved :class:`Decision` layer's
        config: keys `thresholds`, `cut_points`, `top_k`, `strategy`)."""
        if isinstance(config, DecisionRule):
            return config
        if not isinstance(config, dict):
            raise TypeError(f"`config` must be a dict. Received: config={config!r}")
        config = dict(config)
        kind = config.pop("kind", None)
        if kind is None:  # a Decision layer's keys (every VLAP release so far)
            known = {"thresholds", "cut_points", "top_k", "strategy", "head"}
            if set(config) - known:
                raise ValueError(f"Unknown decision-rule config keys {sorted(set(config) - known)}"
                                 f"; expected `kind` and its arguments. Received: {config!r}")
            return make_rule(config.get("thresholds", DEFAULT_THRESHOLD), config.get("top_k"),
                             cut_points=config.get("cut_points"), strategy=config.get("strategy"),
                             head=config.get("head", "decision"))
        if kind not in _RULES:
            raise ValueError(f"Unknown decision rule kind {kind!r}. Registered: "
                             f"{sorted(_RULES)} (register a new one with register_rule).")
        return _RULES[kind]._from_arguments(config)

    @classmethod
    def _from_arguments(cls, config):
        return cls(**config)

    # --- what a rule is ----------------------------------------------------------

    def arguments(self) -> dict:
        """The JSON-able arguments that rebuild this rule (besides head and strategy)."""
        raise NotImplementedError(f"{type(self).__name__} must implement arguments().")

    def decide(self, xp, outputs, from_logits: bool):
        """The rule's formula: a boolean array of the shape of `outputs`.

        Args:
            xp: the array namespace (:data:`NUMPY_DECISION_OPS`, or the
                Keras layer's): `greater`, `equal`, `less_equal`,
                `logical_and`, `logical_or`, `dtype`, `constant`,
                `kth_largest`, `count`, `running_count`.
            outputs: array `(n, num_labels)` of the deciding head.
            from_logits: bool. Whether `outputs` are logits or probabilities.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement decide().")

    def check(self, num_labels: int) -> "DecisionRule":
        """Raise unless the rule fits `num_labels` labels; return the rule."""
        return self

    def for_labels(self, num_labels: int) -> "DecisionRule":
        """This rule checked for `num_labels` labels, per-label values spelled out."""
        return self.check(num_labels)

    def get_config(self) -> dict:
        """JSON-able config; :meth:`from_config` rebuilds an equal rule."""
        return {"kind": self.kind, **self.arguments(), "head": self.head,
                "strategy": self.strategy}

    def replace(self, **changes) -> "DecisionRule":
        """A copy with some arguments changed (e.g. ``strategy="tuned"``)."""
        return DecisionRule.from_config({**self.get_config(), **changes})

    # --- applying it ---------------------------------------------------------

    def select(self, outputs, heads: int = 1):
        """The columns of `outputs` this rule decides on (a dual head's half)."""
        decide_on, rank_on = split_heads(outputs, heads)
        return rank_on if self.head == "score" else decide_on

    def apply(self, outputs, *, from_logits: bool = True, heads: int = 1) -> np.ndarray:
        """The rule on NumPy outputs: 0/1 decisions as ``uint8``.

        Args:
            outputs: array `(n, num_labels)` (or `(n, 2 * num_labels)` for a
                dual-head model, with `heads=2`). Logits, or probabilities.
            from_logits: bool. Whether `outputs` are logits.
            heads: int. 2 for a dual-head model's outputs: the rule's `head`
                decides.
        """
        outputs = self.select(np.asarray(to_numpy(outputs)), heads)
        return np.asarray(self.decide(NUMPY_DECISION_OPS, outputs, from_logits), dtype=np.uint8)

    # --- a value -----------------------------------------------------------

    def _key(self):
        return json.dumps(self.get_config(), sort_keys=True)

    def __eq__(self, other):
        return isinstance(other, DecisionRule) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "kind")
        return f"{type(self).__name__}({args})"


def _as_float_array(values, name):
    try:
        return np.array(to_numpy(values), dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a float, an array or 'tuned'. Received: "
                        f"{name}={values!r}") from None


def _freeze(array):
    array.setflags(write=False)
    return array


def _plain(array):
    """A float or a list of floats (JSON)."""
    return float(array) if array.ndim == 0 else [float(v) for v in array]


@register_rule("cut_points")
class CutPoints(DecisionRule):
    """Predict a label when its logit is above its cut point.

    Cut points are float64 logits, one for every label or one per label.
    Probability outputs are compared with the cut points' probabilities: the
    probabilities the rule was made from (:meth:`DecisionRule.threshold`,
    :meth:`DecisionRule.per_label`), or the sigmoids of its logits. Either
    comparison is exact in the outputs' dtype (:func:`exact_cut`: a threshold
    of 0.99999999 is a logit of 18.42, which a float32 logit can exceed; as a
    float32 probability it would round to 1.0 and never be predicted).

    Args:
        logits: float or array `(num_labels,)` or None. The cut points.
        probabilities: float or array or None. The cut points as probabilities
            in [0, 1] (0 and 1 are the logits -inf and inf: every label, none).
            Given with `logits`, they must be the same cut points.
        head, strategy: as :class:`DecisionRule`.
    """

    logits: np.ndarray
    thresholds: np.ndarray

    def __init__(self, logits=None, probabilities=None, *, head: str = "decision",
                 strategy: "str | None" = None):
        if logits is None and probabilities is None:
            logits = 0.0
        if probabilities is not None:
            p = _as_float_array(probabilities, "threshold")
            if p.ndim > 1:
                raise ValueError("A per-label `threshold` must have shape (num_labels,). "
                                 f"Received: threshold.shape={p.shape}")
            if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
                raise ValueError(
                    ("`threshold` must be a probability in [0, 1]. Received: threshold="
                     f"{float(p)!r}") if p.ndim == 0 else
                    "Per-label thresholds must be probabilities in [0, 1]. "
                    f"Received: threshold={p.tolist()!r}")
        if logits is not None:
            c = _as_float_array(logits, "cut_points")
            if c.ndim > 1:
                raise ValueError("`cut_points` must be one logit for every label or one per "
                                 f"label. Received: cut_points.shape={c.shape}")
            if np.isnan(c).any():
                raise ValueError("`cut_points` must be logits, one per label (NaN found). "
                                 f"Received: cut_points={c.tolist()!r}")
        if probabilities is None:
            p = expit(c)
        elif logits is None:
            c = logit(p)
        elif not (c.shape == p.shape and (np.array_equal(logit(p), c)
                                          or np.array_equal(expit(c), p))):
            raise ValueError(
                "`thresholds` and `cut_points` are two different rules; pass one of them. "
                f"Received: thresholds={p.tolist()!r}, cut_points={c.tolist()!r}")
        self.logits, self.thresholds = _freeze(c), _freeze(p)
        self.default_strategy = "fixed" if logits is None and p.ndim == 0 else "per_label"
        super().__init__(head=head, strategy=strategy)

    def arguments(self):
        return {"logits": _plain(self.logits), "probabilities": _plain(self.thresholds)}

    def check(self, num_labels):
        if self.logits.ndim == 1 and self.logits.shape != (num_labels,):
            raise ValueError(
                f"A per-label `threshold` must have shape (num_labels,) = ({num_labels},)."
                f" Received: threshold.shape={self.logits.shape}")
        return self

    def for_labels(self, num_labels):
        self.check(num_labels)
        if self.logits.ndim == 1:
            return self
        return CutPoints(np.full(num_labels, self.logits), np.full(num_labels, self.thresholds),
                         head=self.head, strategy=self.strategy)

    def decide(self, xp, outputs, from_logits):
        cut = exact_cut(self.logits if from_logits else self.thresholds, xp.dtype(outputs))
        return xp.greater(outputs, xp.constant(cut, outputs))


@register_rule("top_k")
class TopK(DecisionRule):
    """Predict the `k` highest outputs of each example.

    Every output above the row's k-th largest value is taken, then the
    outputs equal to it from the lowest label index up, until there are `k`.
    It needs only the k-th largest *value*, which every backend computes
    alike, so ties break the same way on TensorFlow, PyTorch, JAX and NumPy.

    Args:
        k: int >= 1.
        head, strategy: as :class:`DecisionRule`.
    """

    default_strategy = "top_k"

    def __init__(self, k: int, *, head: str = "decision", strategy: "str | None" = None):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"`top_k` must be an int or None. Received: top_k={k!r}")
        if k < 1:
            raise ValueError(f"`top_k` must be a positive integer. Received: top_k={k!r}")
        self.k = int(k)
        super().__init__(head=head, strategy=strategy)

    def arguments(self):
        return {"k": self.k}

    def check(self, num_labels):
        if self.k > num_labels:
            raise ValueError(f"`top_k` must be between 1 and num_labels={num_labels}. "
                             f"Received: top_k={self.k!r}")
        return self

    def decide(self, xp, outputs, from_logits):
        kth = xp.kth_largest(outputs, self.k)
        above = xp.greater(outputs, kth)
        need = self.k - xp.count(above)
        ties = xp.equal(outputs, kth)
        return xp.logical_or(above, xp.logical_and(ties, xp.less_equal(xp.running_count(ties),
                                                                       need)))


# --- the keyword arguments of the front-ends, as a rule --------------------------


def _is_default_threshold(threshold):
    return (isinstance(threshold, numbers.Real) and not isinstance(threshold, bool)
            and float(threshold) == DEFAULT_THRESHOLD)


def make_rule(threshold=DEFAULT_THRESHOLD, top_k: "int | None" = None, *, cut_points=None,
              rule: "DecisionRule | None" = None, strategy: "str | None" = None,
              head: "str | None" = None) -> DecisionRule:
    """The rule that the keyword arguments of VLAP's functions describe.

    The one place where ``threshold=``, ``top_k=`` and ``cut_points=`` become a
    :class:`DecisionRule` (``"tuned"`` needs validation data:
    :func:`VLAP.inference.tuning.resolve_rule`).

    Args:
        threshold: float, array or DecisionRule. A probability for every label
            (default 0.5) or one per label; a rule is taken as it is.
        top_k: int or None. Predict the `top_k` highest outputs instead.
        cut_points: float, array or None. Cut points on the logits instead.
        rule: DecisionRule or None. The rule itself (then leave the others).
        strategy: str or None. How the rule was chosen, for the record.
        head: str or None. Which head of a dual-head model decides.

    Example:
    >>> make_rule(top_k=2).k
    2
    >>> make_rule(0.3, top_k=2)
    Traceback (most recent call last):
    ...
    ValueError: Pass either `threshold` or `top_k`, not both: top-k predicts the k highest scores per example. Received: threshold=0.3, top_k=2
    """
    if isinstance(threshold, DecisionRule) and rule is None:
        rule, threshold = threshold, DEFAULT_THRESHOLD
    if rule is not None:
        if not isinstance(rule, DecisionRule):
            raise TypeError("`rule` must be a VLAP.inference.DecisionRule. "
                            f"Received: rule={rule!r}")
        if not _is_default_threshold(threshold) or top_k is not None or cut_points is not None:
            raise ValueError(
                "Pass either `rule` or `threshold`/`top_k`/`cut_points`, not both. Received: "
                f"rule={rule!r}, threshold={threshold!r}, top_k={top_k!r}")
        changes = {k: v for k, v in (("strategy", strategy), ("head", head)) if v is not None}
        return rule.replace(**changes) if changes else rule
    head = head or "decision"
    if top_k is not None:
        top = TopK(top_k, head=head, strategy=strategy)  # checks top_k first
        if not _is_default_threshold(threshold) or cut_points is not None:
            raise ValueError(
                "Pass either `threshold` or `top_k`, not both: top-k predicts the k "
                f"highest scores per example. Received: threshold={threshold!r}, "
                f"top_k={top_k!r}")
        return top
    if cut_points is not None:  # thresholds too: a saved Decision layer's config
        probabilities = None if _is_default_threshold(threshold) else threshold
        return CutPoints(cut_points, probabilities, head=head, strategy=strategy)
    if isinstance(threshold, str):
        raise ValueError(
            "Invalid value for argument `threshold`. Expected a float in [0, 1], an array "
            "of one threshold per label, or 'tuned' (which needs validation data: "
            "evaluate(..., threshold='tuned', val_data=...), or tune_thresholds first). "
            f"Received: threshold={threshold!r}")
    if isinstance(threshold, numbers.Real):  # a bool too: threshold() refuses it by name
        return DecisionRule.threshold(
            threshold, head=head, strategy=strategy)  # type: ignore[arg-type]
    return DecisionRule.per_label(threshold, head=head, strategy=strategy)


def decide(outputs, *, cut_points=None, top_k=None, from_logits=True) -> np.ndarray:
    """The decision rule on NumPy outputs: 0/1 decisions as ``uint8``.

    Shorthand for ``make_rule(cut_points=..., top_k=...).apply(outputs)``, the
    same rule, bit for bit, as :class:`~VLAP.inference.Decision` on every
    backend: with `top_k`, the top-k rule; else ``outputs > cut`` per label,
    with the cut points given as logits (None: 0, probability 0.5).

    Example:
    >>> decide(np.array([[3.0, -1.0, 0.2]], "float32"), cut_points=[0.0, -2.0, 1.0]).tolist()
    [[1, 1, 0]]
    """
    rule = make_rule(top_k=top_k, cut_points=0.0 if cut_points is None and top_k is None
                     else cut_points)
    return rule.apply(outputs, from_logits=from_logits)


def top_k_indicator(scores, k: int) -> np.ndarray:
    """0/1 ``uint8`` matrix with exactly ``k`` ones per row: :class:`TopK` on NumPy.

    Example:
    >>> top_k_indicator(np.array([[0.2, 0.7, 0.7, 0.7]]), 2).tolist()
    [[0, 1, 1, 0]]
    """
    return TopK(k).apply(scores)


__all__ = ["DEFAULT_THRESHOLD", "HEADS", "NUMPY_DECISION_OPS", "CutPoints", "DecisionRule",
           "TopK", "as_logits", "as_probabilities", "decide", "exact_cut", "logit",
           "make_rule", "register_rule", "rule_kinds", "split_heads", "top_k_indicator"]
