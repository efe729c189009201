"""Predict with a packaged model: label names and scores for new inputs.

:func:`predict` (``VLAP.predict``, ``vlap predict``) turns new texts, image
files, a table or arrays into one row per example with the predicted label
names and a score per label, through the packaged model's own decision rule
(:class:`~VLAP.inference.predictor.Predictor`).
"""

from pathlib import Path

from VLAP._quiet import import_backend_quietly

import_backend_quietly()  # Keras/TensorFlow start-up without native noise

import numpy as np
import pandas as pd
from keras import ops
from scipy.special import expit

from VLAP._quiet import no_retracing_notices
from VLAP._sparse import to_dense
from VLAP.data.images import ImageDecodeError, undecodable
from VLAP.datasets import DataFormatError, LoadReport
from VLAP.inference.predictor import Predictor, load_predictor

#: File endings read as images when predicting on a folder.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")


class UndecodableImage(DataFormatError, ImageDecodeError):
    """An input image does not decode; the message names it and the `on_error` option
    that skips such files (an :class:`~VLAP.data.ImageDecodeError` too)."""


#: Column names taken as a table's id column when `id_column` is not given.
ID_COLUMNS = ("id", "ID", "Id")


def _inputs(predictor, inputs, input_column, id_column=None, encoding=None,
            on_error="raise", reports=None):
    """(model inputs, ids) for the accepted kinds of `inputs`; a table's
    LoadReport is appended to `reports`."""
    featurizer = predictor.featurizer
    kind = getattr(featurizer, "input_kind", "arrays")
    if isinstance(inputs, (str, Path)):
        path = Path(inputs).expanduser()
        if path.is_dir():
            if kind != "images":
                raise ValueError(f"{path} is a folder, but the model takes {kind}; pass a list "
                                 "of texts or a CSV/JSON-lines file.")
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {path}")
            report = LoadReport(source=str(path), n_read=len(files), n_kept=len(files))
            if reports is not None:
                reports.append(report)
            return _images(featurizer, [str(f) for f in files], [f.name for f in files],
                           on_error, report, where=[f.name for f in files])
        if not path.is_file():
            raise FileNotFoundError(
                f"input not found: {path} (expected a CSV/TSV/JSON-lines file or a folder of "
                "images; in Python a single text goes in a list: [text])")
        if kind not in ("texts", "images"):
            raise ValueError(f"{path}: the model takes numeric arrays, not a table of texts "
                             "or images.")
        from VLAP.datasets import load_table
        from VLAP.datasets.table import table_columns

        column = input_column or predictor.input_column
        if column is None:
            raise ValueError(
                f"Which column of {path} holds the inputs? The model does not record its "
                "training column; pass input_column=.")
        if id_column is None:  # the table's own id column, if it has one
            id_column = next((c for c in table_columns(path, encoding=encoding)
                              if c in ID_COLUMNS and c != column), None)
        data = load_table(path, **{"image_column" if kind == "images" else "text_column": column},
                          id_column=id_column, encoding=encoding, on_error=on_error)
        if reports is not None:
            reports.append(data.report)
        items = data.paths if kind == "images" else data.texts
        if not items:
            raise ValueError(f"{path}: no rows to predict ({data.report.n_skipped} skipped)")
        if kind == "images":
            return _images(featurizer, items, list(data.ids), on_error, data.report,
                           where=[f"id {i}" for i in data.ids])
        return featurizer.transform(items), list(data.ids)
    if isinstance(inputs, (list, tuple)) and inputs and all(
            isinstance(v, (str, Path)) for v in inputs):
        if kind not in ("texts", "images"):
            raise ValueError("The model takes numeric arrays, not texts or paths.")
        items = [str(v) for v in inputs]
        return featurizer.transform(items), list(range(len(items)))
    try:
        x = np.asarray(to_dense(inputs))  # a SciPy matrix (TF-IDF features): made dense
    except (TypeError, ValueError):
        x = None
    if x is not None and x.dtype.kind in "fiub" and x.ndim >= 2:
        # Arrays are raw inputs of an array featuriser (standardisation), else
        # already featurised inputs of the model.
        if kind == "arrays" and featurizer is not None:
            x = featurizer.transform(x)
        return x, list(range(len(x)))
    raise TypeError(
        "`inputs` must be a list of texts (or image paths), a CSV/TSV/JSON-lines file, a "
        f"folder of images, or a numeric array. Received: {type(inputs).__name__}")


def _images(featurizer, paths, ids, on_error, report, where):
    """(model inputs, ids) of image files. With `on_error="skip"`, files that do not
    decode are left out and listed in `report` (`where` names each file for the
    listing); with `"raise"`, the first one stops with an error naming it."""
    try:
        return featurizer.transform(paths), ids
    except ImageDecodeError as err:
        if on_error != "skip":
            raise UndecodableImage(
                str(err), option=("on_error", "skip"),
                advice="Pass on_error='skip' to leave such files out and get them listed "
                       "in frame.attrs['report'].") from None
    bad = undecodable(paths)
    for i, message in bad:
        report.skipped.append({"file": paths[i], "row": ids[i], "where": where[i],
                               "reason": message})
    report.n_kept -= len(bad)
    skip = {i for i, _ in bad}
    keep = [i for i in range(len(paths)) if i not in skip]
    if not keep:
        raise ValueError(f"{report.source}: no images to predict ({len(skip)} could not be "
                         "decoded)")
    return featurizer.transform([paths[i] for i in keep]), [ids[i] for i in keep]


def predict(model_or_path, inputs, *, batch_size: int = 256, loss: "str | None" = None,
            input_column: "str | None" = None, id_column: "str | None" = None,
            encoding: "str | None" = None, on_error: str = "raise",
            logits: bool = False) -> pd.DataFrame:
    """Predict label names and scores for new inputs with a packaged model.

    Args:
        model_or_path: Predictor, or str/Path of a `.keras` file or run folder
            (see :func:`load_predictor`).
        inputs: a list of texts (text models) or image paths (image models); a
            CSV/TSV/JSON-lines file with the training text or image column; a
            folder of images; or a numeric array: raw features when the model's
            featuriser standardises arrays, else already featurised inputs (a
            SciPy sparse matrix of TF-IDF features too, made dense here).
        batch_size: int. Examples per forward pass.
        loss: str or None. Which model of a run folder (default: the best).
        input_column: str or None. The input column of a table file (default:
            the column the model was trained on).
        id_column: str or None. The column of a table file whose values become
            the `id` column (default: a column named `id`, `ID` or `Id` if
            the table has one, else the 0-based data row number, blank lines
            included, so that skipped rows never renumber the others).
        encoding: str or None. The text encoding of a table file (default:
            UTF-8, or what a byte-order mark says).
        on_error: str. For a table file or a folder of images: `"raise"`
            (default) stops at the first bad row or file (an empty text, a
            missing image, an image that does not decode) naming it; `"skip"`
            leaves such rows and files out and lists them in
            `frame.attrs["report"]` (a :class:`VLAP.datasets.LoadReport`).
        logits: bool. Also return one `logit_<label>` column per label (the
            model's float32 logits; a logits model only; a dual-head model adds
            its score head's as `score_logit_<label>`).

    Returns:
        pandas.DataFrame with one row per example: `id` (row number, id or file
        name), `labels` (predicted label names joined by the model's
        separator: the model's own decisions) and one `score_<label>` column
        of probabilities per label. Scores are float64 sigmoids of the logits,
        so they reach 1.0 only above a logit of about 36.7 (a float32 sigmoid
        would stop at 1.0 above about 17), and written to CSV at full
        precision they give the ranking metrics of `vlap run`'s report. For a
        table file or a folder of images, `frame.attrs["report"]` says what
        was read and skipped. A
        dual-head model's `labels` come from its decision head, its
        `score_<label>` from its score head, and `decision_<label>` columns
        hold the decision head's probabilities.
    """
    if isinstance(model_or_path, (str, Path)):
        predictor = load_predictor(model_or_path, loss=loss)
    elif isinstance(model_or_path, Predictor):
        predictor = model_or_path
    else:
        raise TypeError(
            "`model_or_path` must be a packaged model (VLAP.evaluation.package_model) or the "
            f"path of one. Received: {type(model_or_path).__name__}")
    from VLAP._validation import check_option

    check_option("on_error", on_error, ("raise", "skip"))
    reports: list = []
    x, ids = _inputs(predictor, inputs, input_column, id_column=id_column, encoding=encoding,
                     on_error=on_error, reports=reports)
    if logits and not predictor.from_logits:
        raise ValueError("logits=True needs a model that outputs logits; this one outputs "
                         "probabilities.")
    with no_retracing_notices():  # a new model traces its predict step again
        out = predictor.predict(x, batch_size=batch_size, verbose=0)
    dual = predictor.head == "dual"
    if dual:  # the decision head decides, the score head scores
        raw = np.asarray(ops.convert_to_numpy(out["logits"]), dtype=np.float64)
        score_raw = np.asarray(ops.convert_to_numpy(out["score_logits"]), dtype=np.float64)
        scores = expit(score_raw)
    elif predictor.from_logits:
        raw = np.asarray(ops.convert_to_numpy(out["logits"]), dtype=np.float64)
        scores = expit(raw)
    else:
        scores = np.asarray(ops.convert_to_numpy(out["scores"]), dtype=np.float64)
    names = predictor.decision.names_of(ops.convert_to_numpy(out["labels"]))
    frame = pd.DataFrame({"id": ids,
                          "labels": [predictor.label_separator.join(n) for n in names]})
    for j, name in enumerate(predictor.label_names):
        frame[f"score_{name}"] = scores[:, j]
    if dual:
        for j, name in enumerate(predictor.label_names):
            frame[f"decision_{name}"] = expit(raw[:, j])
    if logits:
        for j, name in enumerate(predictor.label_names):
            frame[f"logit_{name}"] = raw[:, j]
        if dual:
            for j, name in enumerate(predictor.label_names):
                frame[f"score_logit_{name}"] = score_raw[:, j]
    if reports:
        frame.attrs["report"] = reports[0]
    return frame


__all__ = ["ID_COLUMNS", "IMAGE_SUFFIXES", "predict"]
