"""Functional forms of the ``VLAP.torch`` losses, as ``torch.nn.functional``'s.

One function per loss of the registry (:mod:`VLAP.ops.registry`) that has a
formula, made from its registration as the modules are and named as its Keras
function (``sigmoid_f1``, ``unbounded_f1``, ``binary_crossentropy``, ``focal``,
``asymmetric``, ``fbeta_loss``, ``precision_loss``, ``recall_loss``,
``jaccard_loss``, ``mcc_loss``, ``label_count_error``; the paper's names
``sigmoidF1`` and ``unboundedF1`` are the same objects)::

    loss = VLAP.torch.functional.sigmoid_f1(logits, target, beta=5.0, reduction="mean")

Each takes ``(input, target)``, then keyword-only: the loss's options,
``sample_weight``, ``reduction``, ``ignore_index`` and ``validate_args``, and
computes exactly what the module of the same options computes (it calls that
module, built once per distinct set of options, so the options are checked
once, not at every step). The counts are this process's own: a functional
form does not sum them across ``torch.distributed`` ranks (use the module,
whose ``sync`` does).

Example:
>>> import torch
>>> from VLAP.torch import functional as VF
>>> y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
>>> logits = torch.tensor([[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]])
>>> round(float(VF.sigmoid_f1(logits, y)), 4)
0.2405
>>> [round(v, 4) for v in VF.sigmoid_f1(logits, y, reduction="none").tolist()]
[0.22, 0.2163, 0.2852]
>>> VF.sigmoidF1 is VF.sigmoid_f1
True
"""

import functools
import inspect

from VLAP.ops import registry

# function name -> function, for every registered loss with a formula
_FUNCTIONS: dict = {}
_FRONT = {"batch": ("reduction", "ignore_index", "validate_args"),
          "elementwise": ("reduction", "ignore_index", "validate_args")}


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _build(spec, kwargs):
    import VLAP.torch as vt

    extra = {"sync": "local"} if spec.kind == "batch" else {}  # this process's loss
    return vt.module_class(spec.name)(**kwargs, **extra)


@functools.lru_cache(maxsize=256)
def _cached_module(spec_id, frozen):
    return _build(_BY_ID[spec_id], dict(frozen))


_BY_ID: dict = {}  # id(spec) -> spec, for the cache's keys (a LossSpec is not hashable)


def _module_for(spec, kwargs):
    try:
        return _cached_module(id(spec), tuple((k, _freeze(v)) for k, v in kwargs.items()))
    except TypeError:  # an unhashable option value: build it anew (checks it anew)
        return _build(spec, kwargs)


def _make_function(spec):
    if spec.formula is None:
        return
    P = inspect.Parameter
    defaults = {"reduction": "mean", "ignore_index": None, "validate_args": True}
    params = [P("input", P.POSITIONAL_OR_KEYWORD), P("target", P.POSITIONAL_OR_KEYWORD)]
    params += [P(o.name, P.KEYWORD_ONLY, default=o.default) for o in spec.options]
    params += [P("sample_weight", P.KEYWORD_ONLY, default=None)]
    params += [P(n, P.KEYWORD_ONLY, default=defaults[n]) for n in _FRONT[spec.kind]]
    signature = inspect.Signature(params)

    def loss(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        input, target = arguments.pop("input"), arguments.pop("target")
        sample_weight = arguments.pop("sample_weight")
        return _module_for(spec, arguments)(input, target, sample_weight)

    loss.__signature__ = signature  # type: ignore[attr-defined]  # inspect reads it
    loss.__name__ = loss.__qualname__ = spec.function
    loss.__module__ = __name__
    kind = ("batch-level: ``reduction`` 'mean' is the loss of the batch's counts, 'none' "
            "the per-label losses (``average='macro'``), 'sum' their sum"
            if spec.kind == "batch" else "element-wise: one value per example, then "
            "``reduction``")
    loss.__doc__ = (f"The loss {spec.name!r} of :mod:`VLAP.ops.registry` as a function "
                    f"({kind}); the same value as ``VLAP.torch.{spec.class_name}`` with "
                    f"the same options {list(spec.option_names)}.")
    loss.spec = spec  # type: ignore[attr-defined]  # the registry record it was made from
    _BY_ID[id(spec)] = spec
    _FUNCTIONS[spec.function] = loss


registry.on_register(_make_function)


def get_function(name):
    """The functional form of a registered loss, by any of its names.

    Example:
    >>> get_function("bce").__name__
    'binary_crossentropy'
    """
    spec = registry.loss_spec(name)
    if spec.function not in _FUNCTIONS or _FUNCTIONS[spec.function].spec is not spec:
        raise ValueError(f"Loss {spec.name!r} has no functional form (no formula): use "
                         f"its module, VLAP.torch.{spec.class_name}.")
    return _FUNCTIONS[spec.function]


def __getattr__(name):
    if name in _FUNCTIONS:  # a loss registered after this import
        return _FUNCTIONS[name]
    raise AttributeError(f"module 'VLAP.torch.functional' has no attribute {name!r}")


sigmoid_f1 = get_function("sigmoid_f1")
unbounded_f1 = get_function("unbounded_f1")
binary_crossentropy = get_function("binary_crossentropy")
focal = get_function("focal")
asymmetric = get_function("asymmetric")
fbeta_loss = get_function("fbeta")
precision_loss = get_function("precision")
recall_loss = get_function("recall")
jaccard_loss = get_function("jaccard")
mcc_loss = get_function("mcc")
label_count_error = get_function("label_count_error")

# the paper's names: the same objects
sigmoidF1 = sigmoid_f1
unboundedF1 = unbounded_f1

__all__ = ["sigmoid_f1", "unbounded_f1", "binary_crossentropy", "focal", "asymmetric",
           "fbeta_loss", "precision_loss", "recall_loss", "jaccard_loss", "mcc_loss",
           "label_count_error", "sigmoidF1", "unboundedF1", "get_function"]
