"""The typed public API: PEP 561 marker, keyword-only options, annotations, Literal types.

The type check itself (`python -m mypy VLAP`, configured in pyproject.toml) runs in CI
(.ci/run); these tests pin what a type checker cannot see: the shape of the public
signatures and that each `Literal` alias names exactly the values its runtime check
accepts.
"""

import inspect
import sys
import typing
from pathlib import Path

import pytest

import VLAP
from conftest import tensorflow_pass_only  # noqa: E402

tensorflow_pass_only("the public signatures are read, not run")

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

#: Public functions with five or more parameters -> the parameters that may be given by
#: position (their data arguments); every later parameter must be keyword-only, as in
#: scikit-learn (`f1_score(y_true, y_pred, *, ...)`). Two paper-compatible extras: split's
#: `fractions` (`VLAP.split(x, y, [0.6, 0.2, 0.2], r=44)`) and train's `num_labels`
#: (`VLAP.train(model, train_ds, val_ds, n)`), both in the paper's README.
POSITIONAL = {
    "VLAP.split": ("X", "y", "fractions"),
    "VLAP.binarize": ("y_train", "y_val", "y_test"),
    "VLAP.create_dataset": ("X", "y"),
    "VLAP.train": ("model", "train_ds", "val_ds", "num_labels"),
    "VLAP.datasets.load_table": ("path",),
    "VLAP.datasets.load_coco": ("instances_json", "images_dir"),
    "VLAP.datasets.load_voc": ("root_or_annotations_dir",),
    "VLAP.datasets.load_posters": ("path",),
    "VLAP.datasets.load_arxiv_snapshot": ("path",),
    "VLAP.datasets.iter_arxiv_snapshot": ("path",),
    "VLAP.models.text_classifier": ("num_labels",),
    "VLAP.models.image_classifier": ("num_labels",),
    "VLAP.models.text_preprocessor": ("checkpoint",),
    "VLAP.models.extract_features": ("paths_or_images", "backbone"),
    "VLAP.models.TextClassifier": ("num_labels", "backbone"),
    "VLAP.models.ImageClassifier": ("num_labels", "backbone"),
    "VLAP.models.register_image_backbone": ("name", "builder", "scaling"),
    "VLAP.training.compile_for_multilabel": ("model", "loss"),
    "VLAP.evaluate": ("model", "data"),
    "VLAP.evaluation.evaluate_predictions": ("y_true", "scores"),
    "VLAP.inference.package_model": ("model", "label_names"),
}


def _resolve(dotted):
    module, _, name = dotted.rpartition(".")
    obj = VLAP
    for part in module.split(".")[1:]:
        obj = getattr(obj, part)
    return getattr(obj, name)


def _parameters(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    return [p for p in inspect.signature(target).parameters.values() if p.name != "self"]


def test_py_typed_ships_with_the_package():
    assert (ROOT / "VLAP" / "py.typed").is_file()
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["VLAP"]
    assert project["tool"]["mypy"]["check_untyped_defs"] is True


@pytest.mark.parametrize("dotted", sorted(POSITIONAL))
def test_options_after_the_data_arguments_are_keyword_only(dotted):
    params = _parameters(_resolve(dotted))
    assert len(params) >= 5, f"{dotted} has fewer than 5 parameters: drop it from the table"
    positional = tuple(p.name for p in params
                       if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    assert positional == POSITIONAL[dotted], (
        f"{dotted}: only its data arguments {POSITIONAL[dotted]} may be positional; "
        f"found {positional}")
    assert not any(p.kind == p.VAR_POSITIONAL for p in params), dotted


@pytest.mark.parametrize("dotted", sorted(POSITIONAL))
def test_public_signatures_are_annotated(dotted):
    obj = _resolve(dotted)
    params = [p for p in _parameters(obj) if p.kind != p.VAR_KEYWORD]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{dotted}: parameters without a type annotation: {missing}"
    if not inspect.isclass(obj):
        assert inspect.signature(obj).return_annotation is not inspect.Signature.empty, dotted


@pytest.mark.parametrize("module", [VLAP.datasets, VLAP.models, VLAP.training])
def test_every_public_function_with_five_parameters_is_in_the_table(module):
    """A new public function with five or more parameters joins POSITIONAL (and so
    gets its options keyword-only) or this test fails."""
    prefix = {VLAP.datasets: "VLAP.datasets", VLAP.models: "VLAP.models",
              VLAP.training: "VLAP.training"}[module]
    unlisted = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        try:
            params = [p for p in _parameters(obj) if p.kind not in (p.VAR_KEYWORD,
                                                                      p.VAR_POSITIONAL)]
        except (TypeError, ValueError):
            continue
        if inspect.isclass(obj) and obj.__init__ is object.__init__:
            continue
        dotted = f"{prefix}.{name}"
        if name == "train":
            dotted = "VLAP.train"
        n_positional = sum(p.kind == p.POSITIONAL_OR_KEYWORD for p in params)
        if len(params) >= 5 and n_positional > 1 and dotted not in POSITIONAL:
            unlisted.append((dotted, n_positional))
    # a Keras callback built by train() (its arguments are train()'s, checked there)
    unlisted = [(d, n) for d, n in unlisted if d != "VLAP.training.RunCheckpoint"]
    assert not unlisted, f"add to POSITIONAL (data arguments only): {unlisted}"


def test_paper_names_stay_the_same_objects():
    assert VLAP.createDataset is VLAP.create_dataset
    assert VLAP.train is VLAP.training.train

    from VLAP.training.train import RunOptions

    assert VLAP.training.RunOptions is RunOptions


def test_literal_types_name_exactly_the_values_their_checks_accept():
    from VLAP.data import dataset, images
    from VLAP.datasets import _common, arxiv, table

    assert set(typing.get_args(_common.OnError)) == set(_common._ON_ERROR)
    literal_checks = [a for a in typing.get_args(_common.CheckImages) if a is not bool]
    assert set(typing.get_args(literal_checks[0])) | {False, True} == set(_common._CHECK_IMAGES)
    assert typing.get_args(table.TableFormat) == table.FORMATS
    assert typing.get_args(arxiv.YearFrom) == arxiv._YEAR_FROM
    assert set(typing.get_args(dataset.PixelScaling)) == (set(images.PIXEL_SCALINGS)
                                                         | set(images.SCALING_ALIASES))
    # and the signatures use them
    assert inspect.signature(VLAP.datasets.load_table).parameters["on_error"].annotation \
        == "OnError"
    assert inspect.signature(VLAP.create_dataset).parameters["scale"].annotation \
        == "PixelScaling | None"


def test_keyword_only_options_refuse_positions():
    with pytest.raises(TypeError, match="positional"):
        VLAP.split([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], (0.6, 0.2, 0.2), 44)
    with pytest.raises(TypeError, match="positional"):
        VLAP.binarize([["a"]], None, None, 1)
    with pytest.raises(TypeError, match="positional"):
        VLAP.datasets.load_table("data.csv", "text")


def test_loss_option_literals_match_the_runtime_values():
    import typing

    from VLAP.losses import functions
    from VLAP.ops import core

    assert typing.get_args(functions.Score) == core.SCORES
    assert set(typing.get_args(functions.Average)) == {a for a in core.AVERAGES if a}
