"""VLAP: sigmoidF1 and baseline losses for multilabel classification.

The public API keeps the paper's names (``VLAP.split``, ``VLAP.createDataset``,
``VLAP.train``, ``VLAP.evaluate``) and adds snake_case aliases that are the *same
objects* (``VLAP.createDataset is VLAP.create_dataset``).

Attributes are imported lazily, so ``import VLAP.torch`` (native PyTorch losses)
never imports Keras or TensorFlow.

Plain Keras loads what VLAP saves: after ``import VLAP``,
``keras.saving.load_model("model.keras")`` opens a packaged model
(``VLAP>Predictor`` and the classes inside it). Keras finds a class only once the
module that registers it has run, and ``import VLAP`` must not import Keras (a
PyTorch user, ``vlap list``). So ``import VLAP`` registers VLAP's Keras classes at
once when Keras is already imported, and otherwise installs a one-shot import hook
that registers them right after Keras has been imported
(:mod:`VLAP._serializables`: it imports only the modules that define those
classes, after any VLAP import that imported Keras has finished).
"""

import importlib

from VLAP import _extras

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None means the module itself.
_EXPORTS = {
    # submodules
    "ops": ("VLAP.ops", None),
    "losses": ("VLAP.losses", None),
    "metrics": ("VLAP.metrics", None),
    "data": ("VLAP.data", None),
    "datasets": ("VLAP.datasets", None),
    "models": ("VLAP.models", None),
    "training": ("VLAP.training", None),
    "evaluation": ("VLAP.evaluation", None),
    "inference": ("VLAP.inference", None),
    "features": ("VLAP.features", None),
    "plots": ("VLAP.plots", None),
    "experiments": ("VLAP.experiments", None),
    # data helpers (paper names are aliases: same objects)
    "split": ("VLAP.data", "split"),
    "binarize": ("VLAP.data", "binarize"),
    "create_dataset": ("VLAP.data", "create_dataset"),
    "createDataset": ("VLAP.data", "create_dataset"),
    # training and evaluation
    "train": ("VLAP.training", "train"),
    "evaluate": ("VLAP.evaluation", "evaluate"),
    "predict": ("VLAP.inference", "predict"),
    # the losses most users want at top level
    "sigmoid_f1": ("VLAP.losses", "sigmoid_f1"),
    "sigmoidF1": ("VLAP.losses", "sigmoid_f1"),
    "SigmoidF1": ("VLAP.losses", "SigmoidF1"),
}

__all__ = sorted(_EXPORTS) + ["__version__"]


#: Public names whose modules do not import Keras (no backend start-up needed).
#: (``VLAP.evaluation`` and ``VLAP.inference`` load lazily: their NumPy parts need no
#: framework, and their Keras parts start Keras quietly themselves when first used.)
_NO_BACKEND = ("datasets", "experiments", "evaluation", "inference")


def __getattr__(name):
    try:
        module_name, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'VLAP' has no attribute {name!r}") from None
    try:
        if name not in _NO_BACKEND:  # TensorFlow's start-up lines filtered, as in the CLI
            from VLAP._quiet import import_backend_quietly

            import_backend_quietly()
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:  # a framework of an extra: say which extra
        better = _extras.missing_extra(err, f"VLAP.{name}")
        if better is None:
            raise
        raise better from err
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__


# last, once the module's names exist: see the docstring ("Plain Keras loads ...")
from VLAP import _serializables  # noqa: E402

_serializables.install()
