"""VLAP's Keras classes, registered for ``keras.saving.load_model`` once Keras is imported.

A ``.keras`` file names its classes (``"VLAP>Predictor"``); Keras finds them
only if the module that registers them (``@keras.saving.register_keras_serializable``)
has run. ``import VLAP`` imports no Keras (a PyTorch user, ``vlap list``), so it
cannot import those modules itself. Instead :func:`install` (run by
``import VLAP``) registers them as soon as Keras is there:

- Keras already imported: :func:`register` at once;
- otherwise a finder on :data:`sys.meta_path` (it finds nothing itself: it asks
  the other finders and wraps the loader they return) calls :func:`register`
  right after the ``keras`` module has run, and then removes itself. When Keras
  is imported by a VLAP module (``VLAP/losses/__init__.py`` imports it at its
  top), registering waits until that VLAP import, and every VLAP import around
  it, has finished: registering imports VLAP modules, which must not read a
  half-made one.

This module imports only the standard library; :func:`register` imports the
modules of :data:`MODULES` and nothing else.
"""

import importlib
import importlib.abc
import sys
import threading
import warnings

#: The modules that define VLAP's serialisable Keras classes: the losses and
#: metrics a model is compiled with, the model parts (heads, backbones, image
#: preprocessing), the compiled dual-head metrics, the packaged model
#: (``Predictor``) and its ``Decision`` layer.
MODULES = (
    "VLAP.losses",
    "VLAP.metrics",
    "VLAP.models",
    "VLAP.training.compile",
    "VLAP.inference.decision",
    "VLAP.inference.predictor",
)

_lock = threading.Lock()
_state = {"registered": False, "pending": False}
_local = threading.local()  # .depth: VLAP modules being imported by this thread


def register():
    """Import the modules of :data:`MODULES` (once); their classes register."""
    with _lock:
        if _state["registered"]:
            return
        _state["registered"] = True
        _state["pending"] = False
    _remove_finder()
    for name in MODULES:
        importlib.import_module(name)


def _register_or_warn():
    """:func:`register` from the hook: a failure warns instead of failing the user's
    ``import keras`` (importing a VLAP module then raises it where it belongs)."""
    try:
        register()
    except Exception as err:  # noqa: BLE001 - never break the import that triggered it
        warnings.warn(f"VLAP could not register its Keras classes for "
                      f"keras.saving.load_model ({type(err).__name__}: {err}); import "
                      "VLAP.inference before loading a VLAP model.", stacklevel=2)


def _depth():
    return getattr(_local, "depth", 0)


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Wraps the loaders of ``keras`` and of VLAP's modules (found by the other
    finders): after ``keras`` has run, or after the outermost VLAP import that
    imported it, :func:`register`."""

    def find_spec(self, fullname, path=None, target=None):
        is_keras = fullname == "keras"
        if not is_keras and not fullname.startswith("VLAP."):
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_register(module):
            _local.depth = _depth() + (0 if is_keras else 1)
            try:
                exec_module(module)
            finally:
                if not is_keras:
                    _local.depth -= 1
                loader.exec_module = exec_module
            if is_keras:
                _state["pending"] = True
            if _state["pending"] and _depth() == 0:
                _register_or_warn()

        loader.exec_module = exec_then_register
        return spec


_FINDER = _RegisterAfterKeras()


def _remove_finder():
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def install():
    """Register VLAP's Keras classes now if Keras is imported, else right after it is."""
    if _state["registered"]:
        return
    if "keras" in sys.modules:
        _register_or_warn()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
