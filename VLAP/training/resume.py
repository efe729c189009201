"""Exact resume: what a killed run needs to continue as if it had never stopped.

A resumed run ends with the weights and per-epoch losses of an uninterrupted one
(checked on TensorFlow, PyTorch and JAX, with dropout) because four things are
the same in both:

1. the weights and optimizer state (``checkpoints/last.keras``);
2. the random generators of the model (dropout, augmentation layers): their
   states are stored in ``state.json`` (:func:`random_states`), since
   ``.keras`` files do not hold them; on PyTorch also torch's global generator,
   which Keras' unseeded dropout draws from there;
3. the data order: training reads one repeated stream of epochs
   (:func:`epoch_stream`) and a resumed run skips the batches already seen;
4. the number of times that stream is iterated. A ``tf.data`` shuffle reseeds
   every time an iterator is created, so one extra ``iter()`` shifts every later
   epoch. Keras' JAX and PyTorch trainers (and TensorFlow's under a strategy)
   draw a batch from the training data to build an unbuilt model, optimizer,
   loss or metrics, which a fresh model needs and a reloaded one does not.
   :func:`build_for_fit` builds all of them from the dataset's element spec,
   without reading it. Keras' TensorFlow trainer under a ``tf.distribute``
   strategy takes that batch from a first iterator *whatever is built* (its
   ``_maybe_symbolic_build``), then trains on a second one: a 1-replica run
   started on another shuffle than a run without strategy, and a resumed run
   on yet another. :func:`one_iterator` skips that read for a model
   :func:`build_for_fit` has built, so no trainer ever takes an extra iterator.

:func:`check_resume_config` refuses to resume with arguments that differ from
the stored ``config.json``.
"""

import contextlib
import json
from collections.abc import Iterator
from typing import Any
import os
import warnings
from pathlib import Path

import keras

from VLAP._compat import (can_build_symbolically, compiled_parts, distribute_strategy,
                          flatten_layers, has_symbolic_build_at_fit, layer_seed_generators,
                          mark_seeded, no_symbolic_build_at_fit, symbolic_build)
from VLAP.training.run_dir import library_versions, read_json, truncate_history, write_json

__all__ = ["RESUME_KEYS", "open_run", "load_checkpoint", "check_resume_config",
           "seed_generators", "seed_generator_states", "set_seed_generator_states",
           "seed_model", "random_states", "restore_random_states", "run_states",
           "epoch_stream", "RestoreTorchGenerator",
           "build_for_fit", "one_iterator"]

#: ``config.json`` entries that must be equal for ``resume=True``.
RESUME_KEYS = ("loss", "loss_config", "learning_rate", "threshold", "monitor", "epochs",
               "patience", "restore_best", "seed", "num_labels", "dtype_policy")


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def check_resume_config(stored: dict, config: dict,
                        run_dir: "str | Path" = "the run folder") -> None:
    """Raise a ValueError naming every entry of ``config`` that differs from ``stored``.

    Example:
    >>> check_resume_config({"epochs": 5, "threshold": 0.5},
    ...                     {"epochs": 8, "threshold": 0.5}, "runs/a")
    Traceback (most recent call last):
    ...
    ValueError: resume=True with arguments that differ from runs/a/config.json: epochs: stored 5, given 8. Resume with the stored arguments, or start a new run.
    """
    diffs = []
    for key in RESUME_KEYS:
        if key not in config and key not in stored:
            continue
        old, new = _plain(stored.get(key)), _plain(config.get(key))
        if old != new:
            if isinstance(old, dict) and isinstance(new, dict):
                inner = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                detail = ", ".join(f"{k}={old.get(k)!r} -> {new.get(k)!r}" for k in inner)
                diffs.append(f"{key}: {detail}")
            else:
                diffs.append(f"{key}: stored {old!r}, given {new!r}")
    if diffs:
        raise ValueError(f"resume=True with arguments that differ from {run_dir}/config.json: "
                         + "; ".join(diffs)
                         + ". Resume with the stored arguments, or start a new run.")


def seed_generators(model: keras.Model) -> list:
    """The ``keras.random.SeedGenerator`` objects of a model's layers, in layer order."""
    return [sg for layer in flatten_layers(model)
            for sg in layer_seed_generators(layer)]


def seed_generator_states(model: keras.Model) -> list:
    """States of the model's random generators, as lists (JSON-able)."""
    return [keras.ops.convert_to_numpy(sg.state.value).tolist()
            for sg in seed_generators(model)]


def set_seed_generator_states(model: keras.Model, states: "list | None") -> bool:
    """Restore states from :func:`seed_generator_states`; False when they do not fit."""
    generators = seed_generators(model)
    if states is None or len(states) != len(generators):
        return False
    for sg, value in zip(generators, states):
        sg.state.assign(keras.ops.convert_to_tensor(value, dtype=sg.state.dtype))
    return True


def seed_model(model: keras.Model, seed: int) -> None:
    """Seed the model's own random generators (dropout masks...) from ``seed``.

    Touches only this model: no global seed is set. Generator ``i`` gets the
    state ``[seed + i, 0]`` (as ``keras.random.SeedGenerator(seed + i)`` starts)
    and is marked as seeded: on the PyTorch backend Keras draws the masks of an
    *unseeded* ``Dropout`` from torch's global generator, and of a seeded one
    from its ``SeedGenerator`` (whose state a checkpoint can store).
    Weight initialisation happened when the model was built; seed it there
    (``keras.utils.set_random_seed`` before building, or initializer seeds).
    """
    for i, sg in enumerate(seed_generators(model)):
        value = [(int(seed) + i) % (2 ** 32), 0]
        sg.state.assign(keras.ops.convert_to_tensor(value, dtype=sg.state.dtype))
        mark_seeded(sg, value[0])


def random_states(model: keras.Model) -> dict:
    """Everything random a resumed run must continue from, as JSON-able lists.

    The model's generator states, and on PyTorch the state of torch's global
    CPU generator (which unseeded dropout layers draw from there).
    """
    out = {"seed_generators": seed_generator_states(model)}
    if keras.config.backend() == "torch":
        import torch

        out["torch_rng_state"] = torch.get_rng_state().tolist()
    return out


def run_states(model: keras.Model) -> dict:
    """:func:`random_states`, plus the state of a loss attached to ``model``.

    A loss with state across batches (:class:`VLAP.losses.EMASigmoidF1`'s moving
    soft counts) is part of what a resumed run must continue from: its values
    go under ``"loss_state"`` (see :meth:`VLAP.losses.stateful.LossState.values`),
    and :func:`VLAP.train` attaches the loss with them on ``resume=True``.
    """
    out = random_states(model)
    loss_state = getattr(model, "_vlap_loss_state", None)
    if loss_state is not None:
        out["loss_state"] = loss_state.values()
    return out


def restore_random_states(model: keras.Model, state: dict) -> bool:
    """Restore :func:`random_states`; False when the generators do not fit the model.

    On PyTorch this sets torch's global CPU generator, as ``resume=True`` asks.
    """
    if state.get("torch_rng_state") is not None and keras.config.backend() == "torch":
        import torch

        torch.set_rng_state(torch.tensor(state["torch_rng_state"], dtype=torch.uint8))
    return set_seed_generator_states(model, state.get("seed_generators"))


class RestoreTorchGenerator(keras.callbacks.Callback):
    """Set torch's global generator to a resumed run's stored state at its first batch.

    Keras' PyTorch trainer reads a ``tf.data`` stream through a torch
    ``DataLoader``, whose iterator draws a seed from torch's global generator
    when it is created: once when ``fit`` starts. An uninterrupted run drew it
    before its first epoch; a resumed ``fit`` draws it again before the epoch it
    resumes at, which would shift every later dropout mask of an unseeded
    ``Dropout`` (drawn from that generator). Restoring the stored state once
    that iterator exists (at the first batch) undoes the extra draw.
    """

    def __init__(self, state: "list | None"):
        super().__init__()
        self.state = state

    def on_train_batch_begin(self, batch, logs=None):
        if self.state is not None and keras.config.backend() == "torch":
            import torch

            torch.set_rng_state(torch.tensor(self.state, dtype=torch.uint8))
        self.state = None


def epoch_stream(train_ds: Any, initial_epoch: int = 0) -> tuple:
    """One repeated stream of epochs, skipping those already trained.

    Epoch ``k`` of a resumed run must see the batches epoch ``k`` of the
    uninterrupted run saw. Training reads ``train_ds.repeat()`` with
    ``steps_per_epoch`` = batches per epoch: the shuffle reseeds once per epoch
    inside one stream, and resuming skips ``initial_epoch * steps`` batches of
    that same stream.

    Returns:
        ``(stream, steps)``; ``(train_ds, None)`` for data that is not a
        ``tf.data.Dataset`` (then ``initial_epoch`` must be 0).
    """
    import tensorflow as tf

    if not isinstance(train_ds, tf.data.Dataset):
        if initial_epoch:
            raise TypeError("`resume=True` needs `train_ds` as a tf.data.Dataset "
                            f"(e.g. from VLAP.createDataset). Received: {type(train_ds)}")
        return train_ds, None
    steps = int(train_ds.cardinality())
    if steps == tf.data.INFINITE_CARDINALITY:
        raise ValueError("`train_ds` is infinite (it repeats); pass one epoch of data.")
    if steps == tf.data.UNKNOWN_CARDINALITY:
        steps = sum(1 for _ in train_ds)
    if steps == 0:
        raise ValueError("`train_ds` is empty: it yields no batch.")
    stream = train_ds.repeat()
    if initial_epoch:
        stream = stream.skip(initial_epoch * steps)
    return stream, steps


def build_for_fit(model: keras.Model, dataset: Any, strategy: Any = None) -> None:
    """Build a compiled model's variables, optimizer, loss and metrics without data.

    Uses the ``element_spec`` of ``dataset`` (a ``tf.data.Dataset``), so no
    iterator over the training stream is created (see the module docstring,
    point 4). Keras exposes no public method for this: it is its own
    ``Trainer._symbolic_build``, called with symbolic tensors as Keras itself
    does when given a data batch. A no-op when everything is built already.
    """
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset) or not can_build_symbolically(model):
        return

    def to_symbolic(spec):
        return keras.KerasTensor(tuple(spec.shape), spec.dtype.name)

    batch = tf.nest.map_structure(to_symbolic, dataset.element_spec)
    if strategy is not None:
        with strategy.scope():
            symbolic_build(model, batch)
    else:
        symbolic_build(model, batch)


def _is_built(model):
    """True when the model, its optimizer, compiled loss and metrics are all built."""
    parts = [all(layer.built for layer in flatten_layers(model))]
    for part in (*compiled_parts(model), getattr(model, "optimizer", None)):
        parts.append(part is None or bool(getattr(part, "built", True)))
    return all(parts)


@contextlib.contextmanager
def one_iterator(model: keras.Model) -> Iterator[None]:
    """While ``fit`` runs, keep it from reading a batch of an extra iterator.

    Keras' TensorFlow trainer, for a model made under a ``tf.distribute``
    strategy, calls ``_maybe_symbolic_build`` at the start of ``fit``, which
    creates an iterator over the training data and takes one batch from it even
    when everything is built, and then trains on a new iterator (see the module
    docstring, point 4). For a model :func:`build_for_fit` has built, that call
    has nothing to build: this context replaces it on the instance by a no-op
    and restores it after. Elsewhere (other backends, no strategy, an unbuilt
    model) it changes nothing.
    """
    patch = (keras.config.backend() == "tensorflow"
             and distribute_strategy(model) is not None
             and has_symbolic_build_at_fit(model) and _is_built(model))
    if not patch:
        yield model
        return

    with no_symbolic_build_at_fit(model):  # everything is built (build_for_fit)
        yield model


def open_run(run_dir: "str | os.PathLike[str] | None", config: dict, *,
             resume: bool = False) -> "tuple[Path | None, dict]":
    """Create a run folder, or reopen one to resume; returns ``(run_dir, state)``.

    A new run writes ``config.json`` and ``versions.json`` into ``run_dir``
    (created when missing) and refuses a folder that already holds a run. A
    resumed run checks ``config`` against the stored ``config.json``
    (:func:`check_resume_config`), reads ``state.json`` and drops history rows
    past its last epoch. ``run_dir=None`` means no run folder: ``(None, {})``.
    """
    if run_dir is None:
        if resume:
            raise ValueError("`resume=True` needs the `run_dir` of the run to continue.")
        return None, {}
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / "state.json").exists():
            raise FileNotFoundError(f"nothing to resume in {run_dir}: no state.json "
                                    "(was a first epoch ever finished there?)")
        if (run_dir / "config.json").exists():
            check_resume_config(read_json(run_dir / "config.json"), config, run_dir)
        state = read_json(run_dir / "state.json")
        truncate_history(run_dir / "history.csv", int(state["last_epoch"]))
        return run_dir, state
    if (run_dir / "state.json").exists():
        raise FileExistsError(f"{run_dir} already holds a run; pass resume=True to continue "
                              "it, or choose a new run_dir (runs are never overwritten).")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config)
    write_json(run_dir / "versions.json", library_versions())
    return run_dir, {}


def load_checkpoint(run_dir: "str | os.PathLike[str]", state: dict, strategy: Any = None,
                    seed: "int | None" = None) -> "tuple[keras.Model, int]":
    """The model of ``checkpoints/last.keras`` with its random generators restored.

    ``seed``: the run's seed (its generators are marked seeded again, see
    :func:`seed_model`, before their stored states are restored).

    Returns ``(model, initial_epoch)``: the compiled model (optimizer state
    included) and the first epoch still to train.
    """
    last = Path(run_dir) / "checkpoints" / "last.keras"
    if not last.exists():
        raise FileNotFoundError(f"no checkpoint to resume from: {last} is missing")
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = keras.saving.load_model(last)
    if seed is not None:
        seed_model(model, seed)
    if not restore_random_states(model, state):
        warnings.warn("could not restore the random generators' states; the resumed "
                      "run will draw different dropout masks.", stacklevel=3)
    return model, int(state["last_epoch"]) + 1
