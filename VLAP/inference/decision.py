"""The decision rule as a serialisable Keras layer: :class:`Decision`.

The rule itself is a framework-free value, :class:`VLAP.inference.rule.DecisionRule`
(cut points on the logits, or top-k); :class:`Decision` holds one with the
label names and applies it with ``keras.ops`` inside a packaged model (see
:mod:`VLAP.inference.predictor`), so it is saved in the `.keras` file and
reloads identically on every backend. Tuning a rule on validation data is in
:mod:`VLAP.inference.tuning`; the names below are kept here too, as the same
objects.
"""

from collections.abc import Sequence

from VLAP._quiet import import_backend_quietly

import_backend_quietly()  # Keras/TensorFlow start-up without native noise

import keras
import numpy as np
from keras import ops

from VLAP._arrays import to_numpy
from VLAP.inference.rule import (  # noqa: F401  (re-exported: same objects)
    DEFAULT_THRESHOLD,
    DecisionRule,
    decide,
    exact_cut,
    logit,
    make_rule,
    top_k_indicator,
)
from VLAP.inference.tuning import (  # noqa: F401  (re-exported: same objects)
    MIN_TUNING_SUPPORT,
    RULE_FOLDS,
    choose_rule,
    tune_cut_points,
    tune_thresholds,
)


class _KerasDecisionOps:
    """:data:`VLAP.inference.rule.NUMPY_DECISION_OPS` on ``keras.ops``."""

    greater = staticmethod(ops.greater)
    equal = staticmethod(ops.equal)
    less_equal = staticmethod(ops.less_equal)
    logical_and = staticmethod(ops.logical_and)
    logical_or = staticmethod(ops.logical_or)

    @staticmethod
    def dtype(x):
        return np.dtype(keras.backend.standardize_dtype(x.dtype))

    @staticmethod
    def constant(values, like):
        return ops.convert_to_tensor(values, dtype=like.dtype)

    @staticmethod
    def kth_largest(x, k):
        return ops.top_k(x, k, sorted=True)[0][..., k - 1:]

    @staticmethod
    def count(mask):
        return ops.sum(ops.cast(mask, "int32"), axis=-1, keepdims=True)

    @staticmethod
    def running_count(mask):
        return ops.cumsum(ops.cast(mask, "int32"), axis=-1)


KERAS_DECISION_OPS = _KerasDecisionOps()


@keras.saving.register_keras_serializable(package="VLAP")
class Decision(keras.layers.Layer):
    """The decision rule of a trained model, as a Keras layer: cut points or top-k.

    Turns a model's outputs `(batch, num_labels)` into 0/1 decisions with a
    :class:`~VLAP.inference.rule.DecisionRule` (`rule`): a label is predicted
    when its logit is above its cut point, or for the `top_k` highest outputs
    of each row (ties: the lower label index first, on every backend). Cut
    points are kept as float64 logits and compared exactly in the outputs'
    dtype (a threshold of 0.99999999 is a logit of 18.42, which a float32
    logit can exceed; as a float32 probability it would round to 1.0 and never
    be predicted). ``rule.apply`` is the same rule on NumPy arrays. The rule is
    in `get_config` (the keys of every VLAP release: `thresholds`,
    `cut_points`, `top_k`, `strategy`; `head` when it is not `"decision"`, and
    `rule` for a rule kind of its own), so it is saved inside a `.keras` file
    and reloads identically on every backend.

    Args:
        label_names: list of str. One name per label, in column order.
        thresholds: float or list of float. Probabilities in [0, 1]: one for
            every label (default 0.5) or one per label. Stored as their logits.
        top_k: int or None. Predict exactly the `top_k` highest-scoring
            labels per example instead (then leave `thresholds` at 0.5).
        strategy: str or None. How the rule was chosen (`"fixed"`,
            `"tuned"`, ...), for the record; None infers it.
        cut_points: float, list or None. The cut points as logits (e.g. from
            :func:`tune_cut_points`, always finite); given, they replace
            `thresholds`.
        from_logits: bool. Whether the layer's inputs are logits (default) or
            probabilities.
        rule: DecisionRule or None. The rule itself, instead of `thresholds`,
            `top_k` and `cut_points`.

    Example:
    >>> from VLAP.inference import Decision
    >>> rule = Decision(["cat", "dog", "bird"], thresholds=[0.5, 0.3, 0.9])
    >>> logits = np.array([[0.4, -0.4, 2.0]], "float32")   # probabilities .60 .40 .88
    >>> ops.convert_to_numpy(rule(logits)).tolist()
    [[1.0, 1.0, 0.0]]
    >>> rule.names_of([[1, 1, 0]])
    [['cat', 'dog']]
    """

    def __init__(self, label_names: "Sequence[str]", thresholds=DEFAULT_THRESHOLD,
                 top_k: "int | None" = None, strategy: "str | None" = None,
                 cut_points=None, from_logits: bool = True,
                 rule: "DecisionRule | dict | None" = None, head: "str | None" = None,
                 **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        label_names = [str(n) for n in label_names]
        if not label_names or len(set(label_names)) != len(label_names):
            raise ValueError(
                "`label_names` must be a non-empty list of distinct names. "
                f"Received: label_names={label_names[:10]!r}")
        if not isinstance(from_logits, bool):
            raise TypeError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
        if isinstance(rule, dict):  # a saved layer's own kind of rule
            rule = DecisionRule.from_config(rule)
        self.label_names = label_names
        self.from_logits = from_logits
        self.rule = make_rule(thresholds, top_k, cut_points=cut_points, rule=rule,
                              strategy=strategy, head=head).for_labels(len(label_names))

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def top_k(self) -> "int | None":
        return self.rule.k

    @property
    def strategy(self) -> str:
        return str(self.rule.strategy)

    @property
    def cut_points(self) -> "list[float] | None":
        """The cut points as float64 logits, or None for top-k."""
        logits = self.rule.logits
        return None if logits is None else [float(c) for c in logits]

    @property
    def thresholds(self) -> "list[float] | None":
        """The cut points as probabilities (float64), or None for top-k."""
        t = self.rule.thresholds
        return None if t is None else [float(v) for v in t]

    def call(self, outputs):
        outputs = ops.convert_to_tensor(outputs)
        decided = self.rule.decide(KERAS_DECISION_OPS, outputs, self.from_logits)
        return ops.cast(decided, outputs.dtype)

    def decide(self, outputs) -> np.ndarray:
        """This rule on NumPy outputs (``rule.apply``): 0/1 ``uint8``."""
        return self.rule.apply(outputs, from_logits=self.from_logits)

    def compute_output_shape(self, input_shape):
        return input_shape

    def names_of(self, decisions) -> "list[list[str]]":
        """Label-name lists of a 0/1 decision matrix."""
        decisions = np.asarray(to_numpy(decisions))
        return [[self.label_names[j] for j in np.flatnonzero(row)] for row in decisions]

    def get_config(self):
        config = super().get_config()
        config.update({"label_names": self.label_names, "thresholds": DEFAULT_THRESHOLD,
                       "cut_points": None, "from_logits": self.from_logits,
                       "top_k": None, "strategy": self.strategy})
        if self.rule.head != "decision":
            config["head"] = self.rule.head
        if self.rule.kind == "cut_points":
            config.update(thresholds=self.thresholds, cut_points=self.cut_points)
        elif self.rule.kind == "top_k":
            config["top_k"] = self.top_k
        else:
            config["rule"] = self.rule.get_config()
        return config


__all__ = ["DEFAULT_THRESHOLD", "KERAS_DECISION_OPS", "MIN_TUNING_SUPPORT", "Decision",
           "choose_rule", "decide", "exact_cut", "logit", "top_k_indicator", "tune_cut_points",
           "tune_thresholds"]
