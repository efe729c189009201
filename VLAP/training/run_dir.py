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

from VLAP._signals import raise_if_pending
from VLAP.evaluation.metric_table import monitor_higher_is_better

__all__ = ["new_run_dir", "library_versions", "write_json", "read_json", "atomic_save",
           "history_rows", "truncate_history", "RunCheckpoint", "describe_kept"]


def new_run_dir(base: "str | Path" = "runs", name: "str | None" = None) -> Path:
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


def library_versions() -> dict:
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


def write_json(path: "str | Path", obj) -> None:
    """Write ``obj`` as JSON to a temporary file, then rename it over ``path``."""
    path = Path(path)
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def read_json(path: "str | Path"):
    """The JSON object in ``path``, with an error naming the file when it is not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}).") from None


def atomic_save(model: keras.Model, path: "str | Path") -> None:
    """Save a ``.keras`` file via a temporary file: a kill never leaves half of one."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def history_rows(path: "str | Path") -> "list[dict]":
    """The rows of a ``history.csv`` as dicts (an empty list when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def truncate_history(path: "str | Path", last_epoch: int) -> None:
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


def describe_kept(kept: dict) -> str:
    """One line that says which epoch a run kept and why (epochs counted from 1).

    Example:
    >>> describe_kept({"epoch": 11, "epochs": 18, "monitor": "val_f1_macro_tuned",
    ...                "best": 0.29, "reason": "best val_f1_macro_tuned 0.290",
    ...                "stopped": "no improvement for 5 epochs"})
    'kept epoch 12 of 18 (best val_f1_macro_tuned 0.290; stopped: no improvement for 5 epochs)'
    """
    also = "".join(f"; also kept epoch {a['epoch'] + 1} ({a['reason']})"
                   for a in kept.get("also", {}).values())
    return (f"kept epoch {kept['epoch'] + 1} of {kept['epochs']} "
            f"({kept['reason']}; stopped: {kept['stopped']}{also})")


class RunCheckpoint(keras.callbacks.Callback):
    """Checkpoint every epoch, keep the best, record ``state.json`` for ``resume``.

    Also carries the early-stopping bookkeeping (best score, epochs without
    improvement), so that a resumed run stops at the same epoch as an
    uninterrupted one. Place it *after* ``keras.callbacks.CSVLogger`` in the
    callback list: ``state.json`` must be written after the epoch's history row.

    Args:
        run_dir: str, Path or None. The run folder; None keeps the best weights
            in memory only and writes nothing.
        monitor: str. Validation log followed. Its direction comes from the
            metric table (:func:`VLAP.evaluation.metric_table.monitor_higher_is_better`):
            a report metric, a score of :mod:`VLAP.training.monitors` or a
            metric you registered has its own; any other name ending in "loss"
            is minimised; any other name is refused (ValueError).
        patience: int or None. Epochs without improvement before stopping.
        restore_best: bool. End training with the best epoch's weights.
        state: dict or None. The ``state.json`` of a run being resumed.
        random_state: callable or None. ``model -> dict`` of JSON-able states
            (random generators, a loss's moving state), merged into
            ``state.json`` every epoch.
        start_from_epoch: int. The first epoch that can be the best one and that
            counts towards patience. A loss schedule's warm-up
            (:class:`VLAP.losses.Scheduled`) trains on other losses, whose
            values (``val_loss``) are on another scale and whose models are not
            the one asked for: its epochs are never kept and never stop the run.
            A run that ends before this epoch keeps its last epoch.
        also: sequence of str. Further validation logs whose best epoch is kept
            too (one per decision rule, e.g. ``("val_f1_macro",)`` beside
            ``"val_f1_macro_tuned"``): their best weights in :attr:`best_weights_of`
            and ``checkpoints/best-<log>.keras``, their best epochs in
            :attr:`kept` (``"also"``). Patience then counts the epochs in which
            none of the logs improved.

    After training, :attr:`kept` says which epoch the model holds and why.
    """

    def __init__(self, run_dir: "str | Path | None", monitor: str, patience: int | None = None,
                 restore_best: bool = True, state: dict | None = None,
                 random_state=None, start_from_epoch: int = 0, also=()):
        super().__init__()
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.monitor = monitor
        self.sign = 1.0 if monitor_higher_is_better(monitor) else -1.0
        self.patience = patience
        self.restore_best = restore_best
        self.state = {} if state is None else state
        self.random_state = random_state
        self.start_from_epoch = int(start_from_epoch)
        self.best_weights = None
        self.also = tuple(m for m in also if m != monitor)
        self.also_signs = {m: 1.0 if monitor_higher_is_better(m) else -1.0 for m in self.also}
        self.also_weights: dict = {}

    @property
    def best_weights_of(self) -> dict:
        """The best weights kept for each log (the monitor's, and each of ``also``)."""
        return {self.monitor: self.best_weights, **self.also_weights}

    @property
    def finished(self) -> bool:
        """True when early stopping already ended the run (nothing left to train)."""
        return self.patience is not None and self.state.get("wait", 0) >= self.patience

    @property
    def kept(self) -> dict | None:
        """The epoch the trained model holds, and why; None before any epoch.

        A dict: ``epoch`` (0-based, as in ``history.csv``), ``epochs`` (number
        trained), ``monitor``, ``best`` (the monitor's best value or None),
        ``reason`` and ``stopped`` (text; :func:`describe_kept` joins them).
        """
        last = self.state.get("last_epoch")
        if last is None:
            return None
        best_epoch, best = self.state.get("best_epoch"), self.state.get("best")
        if self.finished:
            stopped = f"no improvement for {self.patience} epochs"
        else:
            stopped = f"ran all {last + 1} epochs"
        if best_epoch is None:
            epoch = last
            reason = (f"the last epoch: the loss schedule's warm-up ({self.start_from_epoch} "
                      f"epochs) had not ended, no epoch was compared on {self.monitor}")
        elif not self.restore_best:
            epoch = last
            reason = (f"the last epoch (restore_best=False; best {self.monitor} {best:.3f} "
                      f"at epoch {best_epoch + 1})")
        else:
            epoch = best_epoch
            reason = f"best {self.monitor} {best:.3f}"
            if self.start_from_epoch:
                reason += f" from epoch {self.start_from_epoch + 1} on, after the warm-up"
        also = {m: {"epoch": int(a["best_epoch"]), "best": float(a["best"]),
                    "reason": f"best {m} {a['best']:.3f}"}
                for m, a in self.state.get("also", {}).items() if m in self.also}
        return {"epoch": int(epoch), "epochs": int(last) + 1, "monitor": self.monitor,
                "best": None if best is None else float(best), "reason": reason,
                "stopped": stopped, **({"also": also} if also else {})}

    def on_train_begin(self, logs=None):
        if self.run_dir is not None and self.restore_best \
                and self.state.get("best_epoch") is not None:
            best = self.run_dir / "checkpoints" / "best.keras"
            if best.exists():
                self.best_weights = keras.saving.load_model(best, compile=False).get_weights()
        for m in self.also:
            path = None if self.run_dir is None else self.run_dir / "checkpoints" / f"best-{m}.keras"
            if path is not None and m in self.state.get("also", {}) and path.exists():
                self.also_weights[m] = keras.saving.load_model(path, compile=False).get_weights()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"`{self.monitor}` is missing from the epoch logs ({sorted(logs)}); "
                           "train() needs validation data (and, for a monitor such as "
                           "'val_f1_macro_tuned', its callback: VLAP.training.monitors).")
        score = float(logs[self.monitor])
        ckpt = None if self.run_dir is None else self.run_dir / "checkpoints"
        if ckpt is not None:
            ckpt.mkdir(parents=True, exist_ok=True)
        best = self.state.get("best")
        if epoch < self.start_from_epoch:
            pass  # a warm-up epoch: neither the best nor counted for patience
        else:
            improved = best is None or self.sign * score > self.sign * best
            if improved:
                self.state.update(best=score, best_epoch=epoch)
                if ckpt is not None:
                    atomic_save(self.model, ckpt / "best.keras")
                if self.restore_best:
                    self.best_weights = self.model.get_weights()
            for m in self.also:  # one best epoch per further log (decision rule)
                if m not in logs:
                    raise KeyError(f"`{m}` is missing from the epoch logs ({sorted(logs)}).")
                value, mine = float(logs[m]), self.state.setdefault("also", {}).get(m)
                if mine is None or self.also_signs[m] * value > self.also_signs[m] * mine["best"]:
                    self.state["also"][m] = {"best": value, "best_epoch": epoch}
                    if ckpt is not None:
                        atomic_save(self.model, ckpt / f"best-{m}.keras")
                    self.also_weights[m] = self.model.get_weights()
                    improved = True
            self.state["wait"] = 0 if improved else self.state.get("wait", 0) + 1
        self.state["last_epoch"] = epoch
        if ckpt is not None:
            atomic_save(self.model, ckpt / "last.keras")
            if self.random_state is not None:
                self.state.update(self.random_state(self.model))
            write_json(ckpt.parent / "state.json", self.state)  # the commit point, last
        if self.finished:
            self.model.stop_training = True
        raise_if_pending()  # an interrupt a library swallowed: stop here, epoch committed

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
