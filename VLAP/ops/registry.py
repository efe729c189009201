"""The loss registry: every VLAP loss declared once, framework-free.

Each loss is one :class:`LossSpec`, registered with :func:`register_loss`: its
canonical name and other accepted names, its kind, its options (default, check,
example values) and its formula on an array namespace ``xp`` (the functions of
:mod:`VLAP.ops.core`). Everything else reads it:

* the Keras front-end (:mod:`VLAP.losses`): :func:`VLAP.losses.get`, ``NAMES``,
  ``PAPER_LOSSES``, ``STATEFUL``, ``DUAL_HEAD``, the ``keras.losses.Loss``
  classes and the parts of ``WeightedSum``/``DualHead``/``Scheduled``;
* the PyTorch front-end (:mod:`VLAP.torch`): its ``torch.nn.Module`` losses,
  the same parts, :mod:`VLAP.torch.hf`'s names;
* the experiment config's loss names and the results tables' display names.

Two kinds of loss:

* ``"batch"``: a scalar from sums over the *global* batch. The formula is a
  :class:`BatchFormula`: ``counts`` returns the sums (soft ``tp, fp, tn, fn``:
  the front-ends add them across replicas or ranks), ``finish`` turns them
  into the loss. ``sample_weight`` goes inside the counts.
* ``"elementwise"``: one value per example (mean over labels); the front-ends
  weight and average the examples.

Composite and stateful losses (``weighted_sum``, ``dual_head``, ``scheduled``,
``ema_sigmoid_f1``) are registered without a formula: their names, options,
flags and ``parts`` (which registered losses each part may name) are here,
their mechanics (state across batches, two heads) in each front-end's class.

This module imports no framework (no Keras, TensorFlow, PyTorch or JAX).

Example:
>>> canonical_name("sigmoidF1"), canonical_name("asl")
('sigmoid_f1', 'asymmetric')
>>> loss_spec("focal").defaults()
{'alpha': 0.25, 'gamma': 2.0, 'from_logits': True, 'epsilon': 1e-07}
>>> part_names("baseline", ("elementwise",))
['asl', 'asymmetric', 'bce', 'binary_crossentropy', 'focal', 'label_count_error', 'zlpr']
>>> display_name("binary_crossentropy")
'BCE'
"""

import difflib
import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from VLAP.ops import core

#: The kinds of loss: a scalar from counts over the batch, or a value per example.
KINDS = ("batch", "elementwise")


@dataclass(frozen=True)
class Option:
    """One option of a loss.

    Args:
        name: str. The keyword of the option in every front-end.
        default: object. Its default value.
        grid: tuple. A few valid values (besides the default) the parity test
            (tests/test_loss_registry.py) tries on every front-end.
        check: callable or None. ``check(value)`` raises for a bad value; None
            uses the shared check of :func:`VLAP.ops.core.check_loss_options`
            (``beta``, ``eta`` and ``from_logits`` are checked together there).
    """

    name: str
    default: Any
    grid: tuple = ()
    check: Optional[Callable[[Any], Any]] = None


@dataclass(frozen=True)
class BatchFormula:
    """The formula of a batch-level loss on an array namespace ``xp``.

    Args:
        counts: callable. ``counts(xp, y_true, y_pred, *, sample_weight=None,
            **options)`` -> tuple of sums over the batch (axis 0).
        finish: callable. ``finish(xp, sums, **options)`` -> the scalar loss of
            the (possibly replica- or rank-summed) sums.
        score: str or None. The soft score (one of ``VLAP.ops.SCORES``) of the
            ``1 - score`` losses.
        shift: callable or None. For sums of exponentials (log-sum-exps over the
            batch): ``shift(xp, y_true, y_pred, *, sample_weight=None, **options)``
            -> tuple of per-replica shifts (e.g. the largest exponent). The
            front-ends take their maximum across replicas or ranks, stop its
            gradient, and pass the result as ``shift=`` to both ``counts`` and
            ``finish``, so every replica's sums share one shift and still add.

    Each function receives only the options its signature names.
    """

    counts: Callable
    finish: Callable
    score: Optional[str] = None
    shift: Optional[Callable] = None


@dataclass(frozen=True)
class LossSpec:
    """One registered loss (see :func:`register_loss` for the fields)."""

    name: str
    kind: str
    formula: Any
    options: tuple
    aliases: tuple = ()
    display: str = ""
    class_name: str = ""
    function: str = ""
    paper: bool = False
    stateful: bool = False
    outputs_per_label: int = 1
    parts: dict = field(default_factory=dict)
    weights_inside: bool = False

    @property
    def option_names(self) -> tuple:
        return tuple(o.name for o in self.options)

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)

    def defaults(self) -> dict:
        """``{option: default}`` in declaration order."""
        return {o.name: o.default for o in self.options}

    @property
    def is_part(self) -> bool:
        """True when a composite loss may name it: a formula, one output per label."""
        return self.formula is not None and not self.stateful and self.outputs_per_label == 1


_SPECS: dict = {}      # canonical name -> LossSpec, in registration order
_ALIASES: dict = {}    # alias -> canonical name (paper names, "bce", "asl", ...)
_LISTENERS: list = []  # front-ends told of every registration (see on_register)


@functools.lru_cache(maxsize=None)
def _accepted(fn):
    """Names of the keyword arguments ``fn`` takes (None: any, it has ``**kwargs``).

    Cached: :func:`call_formula` asks at every loss call (``inspect.signature``
    costs tens of microseconds, a visible share of a small batch's loss)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params)


def formula_options(fn, options):
    """The options ``fn`` names (all of them when it takes ``**kwargs``): bind them
    once, then call ``fn(xp, *args, **bound)`` at every step."""
    accepted = _accepted(fn)
    if accepted is None:
        return dict(options)
    return {k: v for k, v in options.items() if k in accepted}


def call_formula(fn, xp, *args, options, **extra):
    """``fn(xp, *args, **extra, **options)`` with only the options ``fn`` names."""
    return fn(xp, *args, **extra, **formula_options(fn, options))


def _camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def register_loss(name, *, kind, formula=None, options=(), aliases=(), display=None,
                  class_name=None, function=None, paper=False, stateful=False,
                  outputs_per_label=1, parts=None, weights_inside=False):
    """Declare a loss once; every front-end and table derives from it.

    Args:
        name: str. The canonical (snake_case) name.
        kind: str. ``"batch"`` or ``"elementwise"`` (see the module docstring).
        formula: for ``"elementwise"``, ``formula(xp, y_true, y_pred, **options)``
            -> one value per example; for ``"batch"``, a :class:`BatchFormula`;
            None for a composite or stateful loss whose front-end classes are
            written by hand.
        options: sequence of :class:`Option`, in the order of the front-ends'
            constructor arguments. Every option must be an argument of the formula.
        aliases: sequence of str. Other accepted names (the paper's, "bce", ...).
        display: str or None. The name in results tables (default: ``name``).
        class_name: str or None. The name of its Keras class and ``VLAP.torch``
            module (default: ``name`` in CamelCase).
        function: str or None. Its function's name and the losses' default
            ``name`` (default: ``name``).
        paper: bool. One of the losses the paper compares.
        stateful: bool. Keeps state across batches (attach it to its model).
        outputs_per_label: int. 2 for a dual-head loss (decision, score).
        parts: dict or None. ``{role: kinds}`` of a composite loss: the option
            ``role`` names a registered loss of one of ``kinds``, and the option
            ``role + "_kwargs"`` holds that loss's options.
        weights_inside: bool. An element-wise formula that takes ``sample_weight``
            itself (entry weights inside the per-example value).

    Returns:
        LossSpec.

    Raises:
        ValueError: for a name or alias already taken, an unknown kind, or an
            option the formula does not take.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"`name` must be an identifier. Received: name={name!r}")
    if kind not in KINDS:
        raise ValueError(f"Invalid value for argument `kind`. Expected one of "
                         f"{list(KINDS)}. Received: kind={kind!r}")
    class_name = class_name or _camel(name)
    spec = LossSpec(name=name, kind=kind, formula=formula, options=tuple(options),
                    aliases=tuple(aliases), display=display or name,
                    class_name=class_name, function=function or name, paper=bool(paper),
                    stateful=bool(stateful), outputs_per_label=int(outputs_per_label),
                    parts=dict(parts or {}), weights_inside=bool(weights_inside))
    taken = [n for n in (name, *spec.aliases, class_name)
             if n in _SPECS or n in _ALIASES or n in {s.class_name for s in _SPECS.values()}]
    if taken:
        raise ValueError(f"Loss name {taken[0]!r} is already registered.")
    if not all(isinstance(o, Option) for o in spec.options):
        raise TypeError(f"`options` must be a sequence of Option. Received: {options!r}")
    if formula is not None:
        if kind == "batch" and not isinstance(formula, BatchFormula):
            raise TypeError("A batch-level loss's `formula` must be a BatchFormula(counts, "
                            f"finish). Received: formula={formula!r}")
        if kind == "elementwise" and not callable(formula):
            raise TypeError(f"`formula` must be callable. Received: formula={formula!r}")
        fns = (formula.counts, formula.finish) if kind == "batch" else (formula,)
        takes = [_accepted(fn) for fn in fns]
        if all(t is not None for t in takes):
            unused = [o for o in spec.option_names if not any(o in t for t in takes)]
            if unused:
                raise ValueError(f"Option {unused[0]!r} of loss {name!r} is not an argument "
                                 "of its formula.")
    for role, kinds in spec.parts.items():
        if role not in spec.option_names or f"{role}_kwargs" not in spec.option_names:
            raise ValueError(f"A part {role!r} needs the options {role!r} and "
                             f"{role + '_kwargs'!r}.")
    _SPECS[name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = name
    for listener in _LISTENERS:
        listener(spec)
    return spec


def unregister_loss(name):
    """Remove a registered loss (by any of its names); returns its spec.

    The front-ends' classes already made for it stay importable but the names no
    longer resolve.
    """
    spec = loss_spec(name)
    del _SPECS[spec.name]
    for alias in spec.aliases:
        _ALIASES.pop(alias, None)
    return spec


def on_register(listener):
    """Call ``listener(spec)`` for every registered loss, now and on each new one."""
    _LISTENERS.append(listener)
    for spec in list(_SPECS.values()):
        listener(spec)
    return listener


# --- names ----------------------------------------------------------------------------


def specs():
    """Every registered :class:`LossSpec`, in registration order."""
    return tuple(_SPECS.values())


def names():
    """Every accepted loss name, sorted: canonical names, aliases and class names."""
    out = set(_SPECS) | set(_ALIASES) | {s.class_name for s in _SPECS.values()}
    return tuple(sorted(out))


def paper_losses():
    """The losses the paper compares, by canonical name."""
    return tuple(s.name for s in _SPECS.values() if s.paper)


def stateful_losses():
    """Losses that keep state across batches."""
    return tuple(s.name for s in _SPECS.values() if s.stateful)


def dual_head_losses():
    """Losses of a dual-head model (two outputs per label)."""
    return tuple(s.name for s in _SPECS.values() if s.outputs_per_label == 2)


def suggest(value, valid):
    """`` Did you mean 'x'?`` for the closest valid name (case-insensitive), or ''."""
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(str(value).lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def canonical_name(name):
    """Map an accepted loss name (``"sigmoidF1"``, ``"bce"``, ``"SigmoidF1"``) to its
    canonical one. Names are exact (case-sensitive), as Keras' own loss names are.

    Example:
    >>> canonical_name("BCE")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown loss 'BCE'. Did you mean 'bce'? Valid names: ['Asymmetric', ...]
    """
    if not isinstance(name, str):
        raise TypeError(f"A loss name must be a str. Received: {name!r}")
    if name in _SPECS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    for spec in _SPECS.values():
        if spec.class_name == name:
            return spec.name
    valid = names()
    raise ValueError(f"Unknown loss {name!r}.{suggest(name, valid)} "
                     f"Valid names: {list(valid)}")


def loss_spec(name):
    """The :class:`LossSpec` of a loss by any accepted name (or the spec itself)."""
    if isinstance(name, LossSpec):
        return name
    return _SPECS[canonical_name(name)]


def display_name(name):
    """A loss's name in results tables (``"BCE"``, ``"sigmoidF1"``); unknown names
    are returned as given."""
    try:
        return loss_spec(name).display
    except (TypeError, ValueError):
        return name


# --- options ----------------------------------------------------------------------------


def check_options(name, options, *, front_end=()):
    """Check a loss's options by name; returns them with the defaults filled in.

    Unknown option names raise a ValueError listing the valid ones (the loss's
    options, then ``front_end``: the front-end's own arguments, which are not
    checked here). Values are checked by each option's check; ``beta``, ``eta``
    and ``from_logits`` together; a composite's parts by :func:`resolve_part`
    (a part given as an object, not a name, is left to the front-end).

    Example:
    >>> check_options("focal", {"gama": 1.0})
    Traceback (most recent call last):
    ...
    ValueError: Unknown option 'gama' for loss 'focal'. Did you mean 'gamma'? Valid options: ['alpha', 'gamma', 'from_logits', 'epsilon']
    """
    spec = loss_spec(name)
    valid = list(spec.option_names) + [n for n in front_end if n not in spec.option_names]
    for option in options:
        if option not in valid:
            shown = name.name if isinstance(name, LossSpec) else name
            raise ValueError(f"Unknown option {option!r} for loss {shown!r}."
                             f"{suggest(option, valid)} Valid options: {valid}")
    values = {**spec.defaults(),
              **{k: v for k, v in options.items() if k in spec.option_names}}
    shared = {}
    for option in spec.options:
        if option.check is None:
            shared[option.name] = values[option.name]
        else:
            option.check(values[option.name])
    core.check_loss_options(**shared)
    for role, kinds in spec.parts.items():
        if isinstance(values[role], str) or values[role] is None:
            resolve_part(role, values[role], kinds, values[f"{role}_kwargs"])
    return values


def part_names(role, kinds):
    """The names a composite's part ``role`` accepts: losses of ``kinds`` with a
    formula, by canonical name and alias, sorted."""
    del role  # the same for every role; kept for the call sites' clarity
    out = set()
    for spec in _SPECS.values():
        if spec.kind in kinds and spec.is_part:
            out |= {spec.name, *spec.aliases}
    return sorted(out)


def resolve_part(role, name, kinds, options=None, *, also=""):
    """The :class:`LossSpec` of one part of a composite loss; its options checked.

    Raises a ValueError naming the role (``surrogate``, ``baseline``, ...), the
    valid names and, for an unknown option, the valid options. ``from_logits``
    is the composite's own option, not a part's. ``also`` is put before the
    list of names (a front-end that accepts objects too says so).

    Example:
    >>> resolve_part("baseline", "bce", ("elementwise",)).name
    'binary_crossentropy'
    >>> resolve_part("baseline", "sigmoidF1", ("elementwise",))
    Traceback (most recent call last):
    ...
    ValueError: `baseline` must be one of ['asl', 'asymmetric', 'bce', 'binary_crossentropy', 'focal', 'label_count_error', 'zlpr']. Received: baseline='sigmoidF1'
    """
    valid = part_names(role, kinds)
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"`{role}` must be {also}one of {valid}. Received: {role}={name!r}")
    spec = loss_spec(name)
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"`{role}_kwargs` must be a dict or None. "
                        f"Received: {role}_kwargs={options!r}")
    allowed = [o for o in spec.option_names if o != "from_logits"]
    for option in options or {}:
        if option not in allowed:
            raise ValueError(f"Unknown option {option!r} in `{role}_kwargs` for "
                             f"{spec.name!r}. Valid options: {allowed}")
    check_options(spec, dict(options or {}))
    return spec


# --- the built-in losses -------------------------------------------------------------------
# Options shared by several losses: declared once, with the values the parity test tries.

_D = core.DEFAULT_EPSILON
BETA = Option("beta", 1.0, grid=(4.0,))
ETA = Option("eta", 0.0, grid=(0.5, -1.0))
AVERAGE = Option("average", "macro", grid=("micro",))
FROM_LOGITS = Option("from_logits", True, grid=(False,))
EPSILON = Option("epsilon", _D, grid=(1e-3,))
F_BETA = Option("f_beta", 1.0, grid=(0.5, 2.0))


def _soft_counts(xp, y_true, y_pred, *, from_logits=True, beta=1.0, eta=0.0,
                 sample_weight=None, from_totals=False):
    # from_totals: the same counts from tp, predicted and positives (VLAP.torch's
    # fast path, equal up to float rounding); see VLAP.ops.core.confusion_counts
    return core.soft_confusion(xp, y_true, y_pred, from_logits=from_logits, beta=beta,
                               eta=eta, sample_weight=sample_weight,
                               from_totals=from_totals)


def _one_minus(score):
    def finish(xp, counts, *, average="macro", f_beta=1.0, epsilon=_D):
        return 1.0 - core.reduce_score(xp, score, *counts, average=average, f_beta=f_beta,
                                       epsilon=epsilon)

    finish.__name__ = finish.__qualname__ = f"one_minus_{score}"
    return finish


def soft_score_formula(score):
    """The :class:`BatchFormula` of ``1 - score`` (``score`` in ``VLAP.ops.SCORES``)."""
    core.check_option("score", score, core.SCORES)
    return BatchFormula(_soft_counts, _one_minus(score), score=score)


register_loss("sigmoid_f1", kind="batch", formula=soft_score_formula("fbeta"),
              options=(BETA, ETA, AVERAGE, FROM_LOGITS, EPSILON),
              aliases=("sigmoidF1",), display="sigmoidF1", paper=True)
register_loss("unbounded_f1", kind="batch", formula=soft_score_formula("fbeta"),
              options=(AVERAGE, FROM_LOGITS, EPSILON), aliases=("unboundedF1",),
              display="unboundedF1", class_name="UnboundedF1", paper=True)
register_loss("binary_crossentropy", kind="elementwise", formula=core.binary_crossentropy,
              options=(FROM_LOGITS, EPSILON), aliases=("bce",), display="BCE",
              class_name="BinaryCrossentropy", paper=True)
register_loss("focal", kind="elementwise", formula=core.focal,
              options=(Option("alpha", 0.25, grid=(None, 0.75)),
                       Option("gamma", 2.0, grid=(0.0, 3.5)), FROM_LOGITS, EPSILON),
              paper=True)
register_loss("asymmetric", kind="elementwise", formula=core.asymmetric,
              options=(Option("gamma_neg", 4.0, grid=(0.0, 2.0)),
                       Option("gamma_pos", 1.0, grid=(0.0, 2.0)),
                       Option("clip", 0.05, grid=(0.0, 0.2)), FROM_LOGITS,
                       Option("epsilon", 1e-8, grid=(1e-4,))),
              aliases=("asl",), display="ASL", paper=True)
register_loss("fbeta", kind="batch", formula=soft_score_formula("fbeta"),
              options=(F_BETA, BETA, ETA, AVERAGE, FROM_LOGITS, EPSILON),
              class_name="FBetaLoss", function="fbeta_loss")
for _score, _class in (("precision", "PrecisionLoss"), ("recall", "RecallLoss"),
                       ("jaccard", "JaccardLoss"), ("mcc", "MCCLoss")):
    register_loss(_score, kind="batch", formula=soft_score_formula(_score),
                  options=(BETA, ETA, AVERAGE, FROM_LOGITS, EPSILON), class_name=_class,
                  function=f"{_score}_loss")
register_loss("label_count_error", kind="elementwise", formula=core.label_count_error,
              options=(FROM_LOGITS,), weights_inside=True)

# Composite and stateful losses: no formula of their own (see the module docstring).
_BOTH = ("batch", "elementwise")
_SURROGATES = ("sigmoid_f1", "unbounded_f1", "fbeta", "precision", "recall", "jaccard", "mcc")
_BASELINES = ("binary_crossentropy", "focal", "asymmetric", "label_count_error")


def _parts_options(weight):
    return (Option("surrogate", "sigmoid_f1", grid=_SURROGATES[1:]),
            Option("baseline", "binary_crossentropy", grid=_BASELINES[1:]),
            Option("weight", weight, grid=(0.0, 2.0)),
            Option("surrogate_kwargs", None, grid=({"beta": 3.0, "eta": 0.5},)),
            Option("baseline_kwargs", None, grid=({"epsilon": 1e-4},)),
            FROM_LOGITS)


register_loss("weighted_sum", kind="batch", options=_parts_options(0.5),
              parts={"surrogate": ("batch",), "baseline": ("elementwise",)})
register_loss("scheduled", kind="batch",
              options=(Option("start", "binary_crossentropy", grid=("focal", "jaccard")),
                       Option("end", "sigmoid_f1", grid=("asymmetric", "mcc")),
                       Option("start_epoch", 0, grid=(2,)),
                       Option("ramp_epochs", 10, grid=(0, 3)),
                       Option("start_kwargs", None, grid=({"epsilon": 1e-4},)),
                       Option("end_kwargs", None, grid=({"beta": 3.0},)), FROM_LOGITS),
              parts={"start": _BOTH, "end": _BOTH}, stateful=True)
register_loss("ema_sigmoid_f1", kind="batch",
              options=(Option("momentum", 0.9, grid=(0.0, 0.5)), BETA, ETA, AVERAGE,
                       FROM_LOGITS, EPSILON),
              class_name="EMASigmoidF1", stateful=True)
register_loss("dual_head", kind="batch", options=_parts_options(1.0),
              parts={"surrogate": ("batch",), "baseline": ("elementwise",)},
              outputs_per_label=2)
del _score, _class


# --- relative losses: ZLPR and the Two-way Multi-Label Loss (issue 27) ------------------
# The multilabel literature's rivals of sigmoidF1's "decide at a fixed cut": ZLPR's
# cut is logit 0 by construction; Two-way depends on logit differences only (see
# VLAP.losses.two_way on its cut).

def _positive(name):
    return lambda v: core.check_number(name, v, low=0.0, low_inclusive=False)


# ZLPR is one value per example but not per label (log-sum-exps over the example's
# labels): "elementwise", with its entry weights inside the sums (weights_inside).
register_loss("zlpr", kind="elementwise", formula=core.zlpr, options=(FROM_LOGITS,),
              display="ZLPR", class_name="ZLPR", weights_inside=True)
# Two-way's class-wise term is a log-sum-exp over the batch's examples: "batch", its
# exponential sums shifted by the maximum across replicas (BatchFormula.shift).
register_loss("two_way", kind="batch",
              formula=BatchFormula(core.two_way_counts, core.two_way_finish,
                                   shift=core.two_way_shift),
              options=(Option("t_pos", 4.0, grid=(1.0, 8.0), check=_positive("t_pos")),
                       Option("t_neg", 1.0, grid=(0.5, 2.0), check=_positive("t_neg")),
                       FROM_LOGITS),
              display="Two-way", class_name="TwoWay")

__all__ = ["KINDS", "Option", "BatchFormula", "LossSpec", "register_loss",
           "unregister_loss", "on_register", "specs", "names", "paper_losses",
           "stateful_losses", "dual_head_losses", "canonical_name", "loss_spec",
           "display_name", "check_options", "part_names", "resolve_part",
           "call_formula", "formula_options", "soft_score_formula", "suggest", "BETA", "ETA", "AVERAGE",
           "FROM_LOGITS", "EPSILON", "F_BETA"]
