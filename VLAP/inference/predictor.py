"""A trained model with its decision rule and featuriser, in one `.keras` file.

:func:`package_model` wraps a trained model into a :class:`Predictor`: a
registered `keras.Model` whose outputs are the model's logits (`"logits"`),
the label probabilities (`"scores"`) and the 0/1 decisions of a
:class:`~VLAP.inference.decision.Decision` layer (`"labels"`: per-label cut
points on the logits, fixed, tuned on validation data or chosen between the
two on validation data, or top-k), and whose config carries the label names,
whether the model outputs logits (`from_logits`, so no sigmoid is applied
twice) and the featuriser (:mod:`VLAP.features`) that made its training
inputs. Saved with `predictor.save("model.keras")`, it reloads on any backend
and predicts as after training; :func:`VLAP.inference.predict` turns new texts,
image files, a table or arrays into one row per example with the predicted
label names and a score per label.
"""

import json
from typing import Any
from collections.abc import Sequence
from pathlib import Path

from VLAP._quiet import import_backend_quietly
from VLAP._sparse import to_dense

import_backend_quietly()  # Keras/TensorFlow start-up without native noise

import keras
import numpy as np
import pandas as pd
from keras import ops

from VLAP.inference.decision import Decision
from VLAP.inference.rule import DEFAULT_THRESHOLD, DecisionRule, make_rule, split_heads
from VLAP.inference.scores import output_heads, output_is_logits
from VLAP.inference.tuning import (
    MIN_TUNING_SUPPORT,
    choose_rule,
    rule_of,
    tune_cut_points,
    tune_thresholds,
)
from VLAP.features import deserialize_featurizer, serialize_featurizer

#: The index of the packaged models in a run folder (written by `vlap run`).
MODELS_INDEX = "models.json"


@keras.saving.register_keras_serializable(package="VLAP")
class Predictor(keras.Model):
    """A logits model + its decision rule + its featuriser; see :func:`package_model`.

    Args:
        model: keras.Model. Maps featurised inputs to logits `(batch, num_labels)`.
        decision: Decision. The label names and thresholds (or top-k).
        featurizer: featuriser, its serialised dict, or None. What turns raw
            inputs (texts, image paths) into the model's inputs.
        input_column: str or None. The table column the model was trained on
            (used when predicting on a CSV/JSON-lines file).
        label_separator: str. Joins the predicted label names in `predict`.
        metadata: dict or None. JSON-able facts (loss, validation score, ...).
        from_logits: bool. Whether `model` outputs logits (default) or
            probabilities; the `decision` must say the same.
        head: str. `"single"` (default), or `"dual"` for a dual-head model
            (:class:`VLAP.models.DualHeadLogits`): its decision head (the
            first `num_labels` outputs) decides, its score head scores.

    Calling it returns `{"logits": float32 logits, "scores": probabilities,
    "labels": 0/1 decisions}` (no `"logits"` for a probability model; a dual
    head adds `"score_logits"`, its `"scores"` come from the score head and
    `"decision_scores"` from the decision head). The
    float32 `"scores"` round logits above about 17 to 1.0;
    :func:`VLAP.inference.predict` computes float64 scores from the logits.
    """

    def __init__(self, model: keras.Model, decision: Decision, featurizer=None,
                 input_column: "str | None" = None, label_separator: str = "|",
                 metadata: "dict | None" = None, from_logits: bool = True,
                 head: str = "single", **kwargs):
        super().__init__(**kwargs)
        if head not in ("single", "dual"):
            raise ValueError("Invalid value for argument `head`. Expected one of "
                             f"('single', 'dual'). Received: head={head!r}")
        if head == "dual" and not from_logits:
            raise ValueError("A dual-head model outputs logits: from_logits must be True.")
        self.head = head
        if not isinstance(decision, Decision):
            raise TypeError(f"`decision` must be a VLAP Decision layer. Received: {decision!r}")
        if not isinstance(from_logits, bool):
            raise TypeError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
        if decision.from_logits != from_logits:
            raise ValueError(
                f"The decision rule takes {'logits' if decision.from_logits else 'probabilities'}"
                f" but the model outputs {'logits' if from_logits else 'probabilities'}; build "
                f"the Decision with from_logits={from_logits}.")
        self.from_logits = from_logits
        self.classifier = model
        self.decision = decision
        self.featurizer_config = (featurizer if isinstance(featurizer, dict) or featurizer is None
                                  else serialize_featurizer(featurizer))
        self.input_column = input_column
        self.label_separator = str(label_separator)
        self.metadata = dict(metadata or {})
        json.dumps(self.metadata)  # fail now, not when saving, on non-JSON metadata
        if getattr(model, "built", False):
            self.built = True

    @property
    def label_names(self) -> "list[str]":
        return list(self.decision.label_names)

    @property
    def rule(self) -> DecisionRule:
        """The decision rule (:class:`~VLAP.inference.rule.DecisionRule`)."""
        return self.decision.rule

    @property
    def featurizer(self):
        return deserialize_featurizer(self.featurizer_config)

    def call(self, inputs, training=False):
        outputs = ops.cast(self.classifier(inputs, training=training), "float32")
        if self.head == "dual":
            decide_on, rank_on = split_heads(outputs, 2)
            return {"logits": decide_on, "score_logits": rank_on,
                    "scores": ops.sigmoid(rank_on), "decision_scores": ops.sigmoid(decide_on),
                    "labels": self.decision(self.decision.rule.select(outputs, 2))}
        if not self.from_logits:
            return {"scores": outputs, "labels": self.decision(outputs)}
        return {"logits": outputs, "scores": ops.sigmoid(outputs),
                "labels": self.decision(outputs)}

    def get_config(self):
        model = keras.saving.serialize_keras_object(self.classifier)
        # Predicting needs no loss or optimizer: a custom training loss then
        # need not be importable where the model is loaded.
        model.pop("compile_config", None)
        return {
            "name": self.name,
            "model": model,
            "decision": keras.saving.serialize_keras_object(self.decision),
            "featurizer": self.featurizer_config,
            "input_column": self.input_column,
            "label_separator": self.label_separator,
            "metadata": self.metadata,
            "from_logits": self.from_logits,
            "head": self.head,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"))
        decision = keras.saving.deserialize_keras_object(config.pop("decision"))
        return cls(model, decision, **config)


def _val_outputs(model, x_val, batch_size):
    out = model.predict(to_dense(x_val), batch_size=batch_size, verbose=0)  # TF-IDF: CSR
    return np.asarray(ops.convert_to_numpy(out), dtype=np.float64)


def package_model(model: keras.Model, label_names: "Sequence[str]", *,
                  thresholds: Any = DEFAULT_THRESHOLD, top_k: "int | None" = None,
                  val_data: Any = None, featurizer: Any = None,
                  input_column: "str | None" = None,
                  label_separator: str = "|", metadata: "dict | None" = None,
                  batch_size: int = 256, from_logits: "bool | None" = None,
                  cut_points: Any = None,
                  min_support: int = MIN_TUNING_SUPPORT,
                  rule: "DecisionRule | None" = None) -> Predictor:
    """Wrap a trained model with its decision rule and featuriser.

    Args:
        model: keras.Model. Outputs logits `(batch, num_labels)` (or
            probabilities, see `from_logits`), or a dual-head model's
            `(batch, 2 * num_labels)` (:func:`VLAP.inference.scores.output_heads`):
            the decision head's cut points are chosen, the score head scores.
        label_names: list of str. One per output column.
        thresholds: float, list or str. One threshold for all labels (default
            0.5), one per label, `"tuned"`: per-label cut points that maximise
            each label's F1 on `val_data`
            (:func:`VLAP.inference.decision.tune_cut_points`, labels with fewer
            than `min_support` validation positives keep 0.5), or `"auto"`:
            tuned cuts or 0.5, whichever scores the higher macro-F1 on
            `val_data` out of fold (:func:`VLAP.inference.decision.choose_rule`;
            what `vlap run` ships).
        top_k: int or None. Predict the `top_k` highest scores per example instead.
        val_data: tuple `(x_val, y_val)` or None. Featurised validation inputs and
            their 0/1 labels, for `thresholds="tuned"` or `"auto"`.
        featurizer: featuriser or None. Fitted; what made the model's inputs.
        input_column: str or None. The table column of the training inputs.
        label_separator: str. Joins label names in :func:`predict`.
        metadata: dict or None. JSON-able facts to keep with the model.
        batch_size: int. For scoring `val_data`.
        from_logits: bool or None. Whether `model` outputs logits; None asks
            the model (:func:`VLAP.inference.scores.output_is_logits`: the
            compiled loss's `from_logits`, or a sigmoid output layer).
        cut_points: list or None. Per-label cut points on the logits, already
            chosen (e.g. by `choose_rule`); they replace `thresholds`.
        min_support: int. Positive validation examples a label needs to be tuned.
        rule: DecisionRule or None. The decision rule itself
            (:class:`VLAP.inference.rule.DecisionRule`), instead of
            `thresholds`, `top_k` and `cut_points`.

    Returns:
        Predictor. Save it with `.save("model.keras")`.

    Example:
    >>> import keras, numpy as np, VLAP
    >>> from VLAP.inference import package_model
    >>> net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> x_val = np.eye(3, dtype="float32"); y_val = np.array([[1, 0], [0, 1], [1, 1]])
    >>> predictor = package_model(net, ["spam", "urgent"], thresholds="tuned",
    ...                           val_data=(x_val, y_val), min_support=1)
    >>> predictor.decision.strategy, len(predictor.decision.cut_points)
    ('tuned', 2)
    >>> list(VLAP.predict(predictor, x_val).columns)
    ['id', 'labels', 'score_spam', 'score_urgent']
    """
    label_names = [str(n) for n in label_names]
    heads = output_heads(model)
    out_shape = getattr(model, "output_shape", None)
    if isinstance(out_shape, tuple) and out_shape and out_shape[-1] not in (
            None, heads * len(label_names)):
        raise ValueError(
            f"The model has {out_shape[-1]} outputs but {len(label_names)} `label_names` "
            "were given; pass one name per output column"
            + (" (a dual head has two per label)." if heads == 2 else "."))
    if from_logits is None:
        from_logits = output_is_logits(model)
    record = {}
    if isinstance(thresholds, str):
        if thresholds not in ("tuned", "auto"):
            raise ValueError("Invalid value for argument `thresholds`. Expected a float, a "
                             f"list, 'tuned' or 'auto'. Received: thresholds={thresholds!r}")
        if val_data is None or top_k is not None or cut_points is not None or rule is not None:
            raise ValueError(f"thresholds={thresholds!r} needs `val_data=(x_val, y_val)` and "
                             "no `top_k`, `cut_points` or `rule`.")
        x_val, y_val = val_data
        outputs = _val_outputs(model, x_val, batch_size)[:, :len(label_names)]  # decision head
        # tuned on logits: probabilities of large logits round to 1.0
        if thresholds == "auto":
            record = choose_rule(y_val, outputs, min_support=min_support,
                                 from_logits=from_logits)
            rule = rule_of(record)
        elif from_logits:
            rule = DecisionRule.cut_points(tune_cut_points(y_val, outputs, min_support=min_support),
                                           strategy="tuned")
        else:
            rule = DecisionRule.per_label(tune_thresholds(y_val, outputs, min_support=min_support),
                                          strategy="tuned")
        thresholds = DEFAULT_THRESHOLD
    rule = make_rule(thresholds, top_k, cut_points=cut_points, rule=rule)
    decision = Decision(label_names, rule=rule, from_logits=from_logits)
    metadata = dict(metadata or {})
    if record:
        metadata.setdefault("decision", {k: v for k, v in record.items() if k != "cut_points"})
    return Predictor(model, decision, featurizer=featurizer, input_column=input_column,
                     label_separator=label_separator, metadata=metadata,
                     from_logits=from_logits, head="dual" if heads == 2 else "single")


def load_predictor(path: "str | Path", loss: "str | None" = None) -> Predictor:
    """A Predictor from a `.keras` file or a run folder.

    Args:
        path: str or Path. A `.keras` file saved from a Predictor, or a run
            folder of `vlap run`. Its `models.json` lists `{"models": [{"dataset",
            "loss", "file", "best", ...}]}`: one model per dataset and loss, and
            per dataset the best by validation macro-F1.
        loss: str or None. In a run folder: the loss whose model to load
            (`"<dataset>/<loss>"` when the run has several datasets); None takes
            the best.

    Returns:
        Predictor.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        path = Path(_model_in_run(path, loss))
    elif loss is not None:
        raise ValueError(f"`loss` chooses a model in a run folder; {path} is a file.")
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix != ".keras":
        raise ValueError(f"{path}: expected a .keras model file (or a run folder).")
    import zipfile

    if not zipfile.is_zipfile(path):  # Keras would say "File not found"
        raise ValueError(f"{path} is not a Keras model file (a .keras file is a zip archive; "
                         "this one is not). Pass the .keras file that a Predictor was saved "
                         "to, or the run folder that `vlap run` wrote.")
    import VLAP.losses  # noqa: F401 - registers VLAP's Keras classes (models, losses)
    import VLAP.models  # noqa: F401

    try:
        model = keras.saving.load_model(path)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for bad files
        text = " ".join(str(err).split())
        text = text if len(text) <= 300 else text[:300] + " ..."
        raise ValueError(f"{path}: cannot load the model ({type(err).__name__}: {text})") from None
    if not isinstance(model, Predictor):
        raise ValueError(
            f"{path}: a {type(model).__name__}, not a packaged VLAP model; wrap it with "
            "VLAP.inference.package_model(model, label_names, ...) and save that.")
    return model


def _model_in_run(folder, loss):
    """The model file of a run folder: `loss` (`"<loss>"` or `"<dataset>/<loss>"`),
    or the best by validation macro-F1."""
    index_file = folder / MODELS_INDEX
    if not index_file.is_file():
        files = sorted(folder.glob("*.keras"))
        if len(files) == 1 and loss is None:
            return files[0]
        raise FileNotFoundError(
            f"no {MODELS_INDEX} in {folder}: not a run folder of `vlap run` (which saves "
            "one model per loss); pass a .keras file instead.")
    try:
        entries = json.loads(index_file.read_text(encoding="utf-8"))["models"]
    except (ValueError, KeyError) as err:
        raise ValueError(f"{index_file}: not a model index ({err})") from None
    dataset = None
    if loss is not None and "/" in loss:
        dataset, loss = loss.split("/", 1)
    datasets = list(dict.fromkeys(e["dataset"] for e in entries))
    if dataset is None:
        if len(datasets) > 1:
            raise ValueError(
                f"{folder} holds models for several datasets {datasets}; choose one with "
                "loss='<dataset>/<loss>' (vlap predict --loss <dataset>/<loss>).")
        dataset = datasets[0] if datasets else None
    entries = [e for e in entries if e["dataset"] == dataset]
    if not entries:
        raise ValueError(f"{folder}: no model for dataset {dataset!r}; available: {datasets}")
    if loss is None:
        chosen = [e for e in entries if e.get("best")]
    else:
        from VLAP.losses import canonical_name

        names = {loss}
        for spelling in (loss, loss.lower()):  # "BCE", as the tables print it, too
            try:
                names.add(canonical_name(spelling))
            except (ValueError, TypeError):
                pass
        chosen = [e for e in entries if e["loss"] in names]
    if not chosen:
        raise ValueError(f"{folder}: no model for loss {loss!r}; available: "
                         f"{[e['loss'] for e in entries]}")
    return folder / chosen[0]["file"]


__all__ = ["MODELS_INDEX", "Predictor", "load_predictor", "package_model"]
