"""The run folder of a training run: where it is, what it holds, how it is written.

A run folder holds ``config.json`` (the arguments of the run), ``versions.json``
(library versions), ``history.csv`` (one row per finished epoch),
``checkpoints/last.keras`` and ``checkpoints/best.keras``, and ``state.json``
(last finished epoch, early-stopping state, random-generator states).

Write order, so that a kill at any instant loses nothing that ``resume=True``
needs: each epoch first appends its ``history.csv`` row, then writes the
checkpoints (to a temporary file, then renamed), and ``state.json`` last.
``state.json`` is therefore the commit point: a resumed run drops any
``history.csv`` row past the epoch it records (:func:`truncate_history`) and
trains that epoch again.

Example:
>>> import tempfile
>>> base = tempfile.mkdtemp()
>>> a = new_run_dir(base, name="emotions")
>>> b = new_run_dir(base, name="emotions")
>>> a.name, b.name
('emotions', 'emotions-1')
"""

import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import keras

__all__ = ["new_run_dir", "library_versions", "write_json", "read_json", "atomic_save",
           "history_rows", "truncate_history", "RunCheckpoint"]


def new_run_dir(base="runs", name=None):
    """Create a new, never-existing folder under ``base`` and return its path.

    Args:
        base: str or Path. Parent folder (created when missing). Defaults to
            ``"runs"``, relative to the working directory.
        name: str or None. Folder name; a time stamp ``YYYYmmdd-HHMMSS`` when
            None. When the folder exists, ``-1``, ``-2``, ... is appended: an
            earlier run is never reused or overwritten.

    Returns:
        Path of the created (empty) folder.
    """
    if name is not None and (not isinstance(name, str) or not name.strip()
                             or os.sep in name or name in (".", "..")):
        raise ValueError("`name` must be a non-empty folder name without path "
                         f"separators, or None. Received: name={name!r}")
    base = Path(base)
    stem = name if name is not None else time.strftime("%Y%m%d-%H%M%S")
    for i in range(10000):
        path = base / (stem if i == 0 else f"{stem}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run directory under {base}")


def library_versions():
    """Versions of Python, Keras (and its backend) and the libraries a run used."""
    import numpy

    out = {"python": platform.python_version(), "platform": platform.platform(),
           "keras": keras.__version__, "backend": keras.config.backend(),
           "numpy": numpy.__version__}
    for name in ("tensorflow", "torch", "jax", "keras_hub", "transformers", "sklearn"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "?")
    from VLAP import __version__

    out["VLAP"] = __version__
    return out


def write_json(path, obj):
    """Write ``obj`` as JSON to a temporary file, then rename it over ``path``."""
    path = Path(path)
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def read_json(path):
    """The JSON object in ``path``, with an error naming the file when it is not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}).") from None


def atomic_save(model, path):
    """Save a ``.keras`` file via a temporary file: a kill never leaves half of one."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def history_rows(path):
    """The rows of a ``history.csv`` as dicts (an empty list when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def truncate_history(path, last_epoch):
    """Drop the rows of ``history.csv`` after ``last_epoch`` (rows a kill left behind)."""
    path = Path(path)
    rows = history_rows(path)
    keep = [r for r in rows if int(r["epoch"]) <= last_epoch]
    if len(keep) == len(rows):
        return
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(keep)
    os.replace(tmp, path)


class RunCheckpoint(keras.callbacks.Callback):
    """Checkpoint every epoch, keep the best, record ``state.json`` for ``resume``.

    Also carries the early-stopping bookkeeping (best score, epochs without
    improvement), so that a resumed run stops at the same epoch as an
    uninterrupted one. Place it *after* ``keras.callbacks.CSVLogger`` in the
    callback list: ``state.json`` must be written after the epoch's history row.

    Args:
        run_dir: str, Path or None. The run folder; None keeps the best weights
            in memory only and writes nothing.
        monitor: str. Validation log followed (names ending in "loss" are
            minimised, others maximised).
        patience: int or None. Epochs without improvement before stopping.
        restore_best: bool. End training with the best epoch's weights.
        state: dict or None. The ``state.json`` of a run being resumed.
        random_state: callable or None. ``model -> dict`` of JSON-able random
            states, merged into ``state.json`` every epoch.
        start_from_epoch: int. Epochs without improvement are counted only from
            this epoch on (the best epoch is tracked throughout): a schedule's
            warm-up (:class:`VLAP.losses.Scheduled`) is never cut short.
    """

    def __init__(self, run_dir, monitor, patience=None, restore_best=True, state=None,
                 random_state=None, start_from_epoch=0):
        super().__init__()
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.monitor = monitor
        self.sign = -1.0 if monitor.endswith("loss") else 1.0
        self.patience = patience
        self.restore_best = restore_best
        self.state = {} if state is None else state
        self.random_state = random_state
        self.start_from_epoch = int(start_from_epoch)
        self.best_weights = None

    @property
    def finished(self):
        """True when early stopping already ended the run (nothing left to train)."""
        return self.patience is not None and self.state.get("wait", 0) >= self.patience

    def on_train_begin(self, logs=None):
        if self.run_dir is not None and self.restore_best \
                and self.state.get("best_epoch") is not None:
            best = self.run_dir / "checkpoints" / "best.keras"
            if best.exists():
                self.best_weights = keras.saving.load_model(best, compile=False).get_weights()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"`{self.monitor}` is missing from the epoch logs ({sorted(logs)}); "
                           "train() needs validation data.")
        score = float(logs[self.monitor])
        ckpt = None if self.run_dir is None else self.run_dir / "checkpoints"
        if ckpt is not None:
            ckpt.mkdir(parents=True, exist_ok=True)
        best = self.state.get("best")
        if best is None or self.sign * score > self.sign * best:
            self.state.update(best=score, best_epoch=epoch, wait=0)
            if ckpt is not None:
                atomic_save(self.model, ckpt / "best.keras")
            if self.restore_best:
                self.best_weights = self.model.get_weights()
        elif epoch >= self.start_from_epoch:
            self.state["wait"] = self.state.get("wait", 0) + 1
        self.state["last_epoch"] = epoch
        if ckpt is not None:
            atomic_save(self.model, ckpt / "last.keras")
            if self.random_state is not None:
                self.state.update(self.random_state(self.model))
            write_json(self.run_dir / "state.json", self.state)  # the commit point, last
        if self.finished:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
