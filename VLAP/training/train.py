"""``VLAP.train``: compile and fit a multilabel model with a VLAP loss.

``train`` is a short composition of public steps, each usable on its own:

1. :func:`VLAP.training.compile_for_multilabel`: resolves the loss (a name such
   as ``"sigmoidF1"``, ``"bce"``, ``"focal"``, ``"asl"``, ``"unboundedF1"``, or a
   loss object), compiles with Adam and the multilabel metrics (macro and micro
   F1 at the threshold, mean number of predicted labels, thresholding logits or
   probabilities as the loss's ``from_logits`` says);
2. :func:`VLAP.training.open_run` / :func:`VLAP.training.load_checkpoint`: the
   run folder (:mod:`VLAP.training.run_dir`) and exact resume
   (:mod:`VLAP.training.resume`);
3. ``model.fit`` on one repeated stream of epochs
   (:func:`VLAP.training.epoch_stream`), with early stopping on the validation
   macro-F1 and a checkpoint every epoch (:class:`VLAP.training.RunCheckpoint`).

Run options: where the run writes (``run_dir``), whether it continues one
(``resume``), TensorBoard logs, extra callbacks, a ``tf.distribute`` strategy
and deterministic ops are one value, :class:`RunOptions`, passed as
``train(..., run=RunOptions(run_dir="runs/a", resume=True))``. That is the
preferred form; the same six keywords given to ``train`` directly (the paper's
and the README's ``train(..., run_dir=..., resume=...)``) keep working and mean
the same run.

Side effects: only those asked for. ``train`` sets no global seed (``seed``
seeds the model's own random generators), changes no global dtype policy
(``dtype_policy`` rebuilds the model under it), and writes files only into
``run_dir`` (none when ``run_dir=None``). ``deterministic=True`` is the one
process-wide switch, and says so.

Defaults, and why they differ from the paper's code:

* ``learning_rate="auto"``: 5e-5 when the model holds a keras-hub transformer
  backbone (the usual fine-tuning rate for DistilBERT/BERT), else 1e-3 (Adam's
  default, right for CNN and MLP heads). The paper's code used 1e-5 with batch
  256, which moves a freshly initialised head very slowly.
* sigmoidF1's ``beta=1, eta=0`` (the loss's own defaults). The paper's code used
  S=-10, E=1, i.e. beta=10, eta=1, but applied S to probabilities (a double
  sigmoid), so S was almost 1 everywhere and the loss nearly flat. Pass
  ``loss_kwargs={"beta": ..., "eta": ...}`` to tune; ``vlap reproduce --grid``
  searches them.

Distribution, per backend (a batch-level loss such as sigmoidF1 always means
the score of the *global* batch: the replicas' soft counts are summed before
the score, so one and several replicas give the same loss and the same update):

* TensorFlow: ``train(..., strategy=tf.distribute.MirroredStrategy())`` (or any
  ``tf.distribute`` strategy); the model is rebuilt in its scope.
* JAX: ``keras.distribution.set_distribution(keras.distribution.DataParallel())``
  *before building the model*; no ``strategy`` argument. The batch is one
  global array sharded across devices by XLA.
* PyTorch: one device only (Keras has no torch distribution); for several GPUs
  write a DDP loop with :mod:`VLAP.torch`, where the batch-level losses see each
  rank's local batch.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import keras

from VLAP.datasets.table import did_you_mean
from VLAP._validation import check_bool, check_positive_int, check_threshold
from VLAP.training import _legacy
from VLAP.training.compile import (compile_for_multilabel, has_transformer_backbone,
                                   outputs_per_label, resolve_learning_rate,
                                   resolve_loss)
from VLAP.training.monitors import MONITORS, ValidationScores
from VLAP.training.resume import (RestoreTorchGenerator, build_for_fit, epoch_stream,
                                  load_checkpoint, one_iterator, open_run, run_states,
                                  seed_model)
from VLAP.training.run_dir import RunCheckpoint, describe_kept, history_rows, library_versions

MONITOR = "val_f1_macro"  # the default early-stopping / best-model criterion

__all__ = ["MONITOR", "RunOptions", "train", "library_versions", "enable_determinism"]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How a :func:`train` run is run, as one value: ``train(..., run=RunOptions(...))``.

    Frozen: derive a variant with ``dataclasses.replace(options, resume=True)``.

    Attributes:
        run_dir: str, Path or None. Folder for checkpoints, history and config
            (created; a folder that already holds a run is only reused with
            ``resume=True``). None (default): no run folder, nothing written,
            the best weights kept in memory. For a fresh folder per run use
            ``run_dir=VLAP.training.new_run_dir("runs")``.
        resume: bool. Continue the run in ``run_dir`` from its last checkpoint.
        tensorboard: bool. Also write TensorBoard logs to ``run_dir/tensorboard``.
        callbacks: sequence of extra Keras callbacks (kept as a tuple).
        strategy: a ``tf.distribute`` strategy (TensorFlow backend) or None; the
            model is rebuilt in its scope. On JAX set ``keras.distribution``
            instead (see the module docstring); PyTorch trains on one device.
        deterministic: bool. Turn on the backend's deterministic ops for the
            whole process (:func:`enable_determinism`; on TensorFlow this cannot
            be undone). Off by default: VLAP's CPU runs are reproducible without.

    Example:
    >>> from VLAP.training import RunOptions
    >>> RunOptions(run_dir="runs/a", resume=True).resume
    True
    >>> RunOptions(rundir="runs/a")
    Traceback (most recent call last):
    ...
    TypeError: RunOptions.__init__() got an unexpected keyword argument 'rundir'
    """

    run_dir: str | os.PathLike[str] | None = None
    resume: bool = False
    tensorboard: bool = False
    callbacks: Sequence[keras.callbacks.Callback] = ()
    strategy: Any = None
    deterministic: bool = False

    def __post_init__(self) -> None:
        check_bool("resume", self.resume)
        check_bool("deterministic", self.deterministic)
        callbacks = () if self.callbacks is None else self.callbacks
        if isinstance(callbacks, (str, bytes, Mapping)) or not hasattr(callbacks, "__iter__"):
            raise TypeError("`callbacks` must be a list of Keras callbacks. "
                            f"Received: callbacks={self.callbacks!r}")
        object.__setattr__(self, "callbacks", tuple(callbacks))

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> RunOptions:
        """``RunOptions(**options)``, with unknown names refused by a TypeError that
        lists the valid ones.

        Example:
        >>> RunOptions.from_mapping({"run_dir": None, "tensorbord": True})
        Traceback (most recent call last):
        ...
        TypeError: Unknown run option(s) ['tensorbord'] (did you mean 'tensorboard'?). Valid names: ['run_dir', 'resume', 'tensorboard', 'callbacks', 'strategy', 'deterministic']
        """
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in options if k not in names]
        if unknown:
            raise TypeError(f"Unknown run option(s) {unknown}{did_you_mean(unknown[0], names)}. "
                            f"Valid names: {names}")
        return cls(**options)


def _run_options(run: RunOptions | Mapping[str, Any] | None,
                 keywords: dict[str, Any]) -> RunOptions:
    """The run options of a :func:`train` call: ``run`` or the separate keywords
    (never both: a keyword away from its default next to ``run`` is an error)."""
    if run is None:
        return RunOptions(**keywords)
    # every default is None, False or (for callbacks) empty
    given = sorted(k for k, v in keywords.items()
                   if not (v is None or v is False or (k == "callbacks" and len(v) == 0)))
    if given:
        raise TypeError(
            "Pass the run options either as `run=RunOptions(...)` or as keywords, not "
            f"both. Received: run={run!r} and {', '.join(f'{k}={keywords[k]!r}' for k in given)}")
    if isinstance(run, RunOptions):
        return run
    if isinstance(run, Mapping):
        return RunOptions.from_mapping(run)
    raise TypeError("`run` must be a VLAP.training.RunOptions (or a dict of its fields). "
                    f"Received: run={run!r}")


def _is_legacy_model(model):
    """True for a tf-keras (Keras 2) model, e.g. transformers 4.x TF classes."""
    import sys

    if isinstance(model, keras.Model):
        return False
    tf_keras = sys.modules.get("tf_keras")
    return tf_keras is not None and isinstance(model, tf_keras.Model)


def enable_determinism() -> None:
    """Turn on deterministic ops of the current backend, for the whole process.

    TensorFlow: ``tf.config.experimental.enable_op_determinism()`` (cannot be
    turned off again); PyTorch: ``torch.use_deterministic_algorithms(True)``;
    JAX on CPU is deterministic already (nothing to do).
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)


def _check_num_labels(model, num_labels, per_label=1):
    """``num_labels`` checked against the model's output: ``per_label`` values per
    label (2 for a dual-head loss: decision head, then score head)."""
    if num_labels is None:
        return None
    check_positive_int("num_labels", num_labels)
    out = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if out is not None and out != per_label * num_labels:
        what = "values per example." if per_label == 1 else \
            f"values per example; a dual-head loss needs {per_label * num_labels}."
        raise ValueError(f"`num_labels`={num_labels} but the model outputs {out} {what}")
    return num_labels


def _check_monitor(monitor: Any) -> tuple[str, ...]:
    """``monitor`` as a tuple of validation logs (one str, or a non-empty sequence)."""
    names = (monitor,) if isinstance(monitor, str) else monitor
    if isinstance(names, (bytes, Mapping)) or not isinstance(names, Sequence) or not names \
            or not all(isinstance(m, str) and m.startswith("val_") for m in names):
        raise ValueError("`monitor` must name a validation log such as 'val_f1_macro' "
                         "or 'val_loss' (or be a list of them, one best epoch each). "
                         f"Received: monitor={monitor!r}")
    return tuple(dict.fromkeys(names))


def train(model: keras.Model, train_ds: Any, val_ds: Any, num_labels: int | None = None, *,
          loss: str | keras.losses.Loss = "sigmoidF1", epochs: int = 10,
          learning_rate: float | Literal["auto"] = "auto",
          loss_kwargs: Mapping[str, Any] | None = None, threshold: float = 0.5,
          patience: int | None = 3, restore_best: bool = True, seed: int | None = None,
          verbose: int | Literal["auto"] = "auto", monitor: str | Sequence[str] = MONITOR,
          dtype_policy: str | None = None, run: RunOptions | None = None,
          run_dir: str | os.PathLike[str] | None = None, resume: bool = False,
          tensorboard: bool = False, callbacks: Sequence[keras.callbacks.Callback] | None = None,
          strategy: Any = None,
          deterministic: bool = False) -> tuple[keras.Model, keras.callbacks.History]:
    """Train a multilabel model; returns ``(model, history)``.

    Args:
        model: keras.Model. Outputs one logit per label (VLAP's models do).
            A transformers 4.x ``TFDistilBertForSequenceClassification`` (tf-keras,
            the ``legacy`` extra) is accepted too.
        train_ds: tf.data.Dataset of ``(features, labels)`` (e.g. from
            ``VLAP.createDataset``).
        val_ds: tf.data.Dataset. Used for early stopping on macro-F1.
        num_labels: int or None. Number of labels; checked against the model's
            output when given (the paper's ``num_classes``, 4th positional
            argument as in the paper's ``VLAP.train(model, train_ds, val_ds, n)``).
            Every argument after it is keyword-only.
        loss: str or keras.losses.Loss. Any name ``VLAP.losses.get`` accepts.
        epochs: int. Maximum number of epochs.
        learning_rate: float or "auto" (5e-5 for transformer backbones, else 1e-3).
        loss_kwargs: dict or None. Options for a loss given by name, e.g.
            ``{"beta": 10.0, "eta": 0.0}`` for sigmoidF1.
        threshold: float in (0, 1). Probability threshold of the F1 metrics
            (applied to the logits or probabilities as the loss's
            ``from_logits`` says).
        patience: int or None. Early-stopping patience in epochs (None: off).
            With a loss schedule (:class:`VLAP.losses.Scheduled`) epochs are
            counted only once the schedule has reached its end loss.
        restore_best: bool. End with the weights of the best validation epoch.
            With a loss schedule the best epoch is sought only from the first
            epoch of pure end loss (``warmup_epochs``) on, whatever ``monitor``:
            warm-up epochs train another loss, and their ``val_loss`` is on
            another scale (a BCE-phase epoch would beat every sigmoidF1 epoch).
            A run that ends inside the warm-up keeps its last epoch.
        seed: int or None. Seeds the model's own random generators (dropout,
            augmentation layers); no global seed is set. The data order is the
            dataset's (``VLAP.createDataset(..., seed=)``) and the initial
            weights are the model's as given.
        verbose: "auto", 0, 1 or 2. Keras progress output.
        monitor: str. The validation log that early stopping and the best
            checkpoint follow: ``"val_f1_macro"`` (default; F1 at ``threshold``),
            ``"val_f1_micro"``, ``"val_loss"`` (minimised; any name ending in
            "loss" is), or a score of :mod:`VLAP.training.monitors`:
            ``"val_f1_macro_tuned"`` (validation macro-F1 with per-label
            thresholds tuned on validation, scored out of fold) or ``"val_map"``,
            computed each epoch by a callback added here. Macro-F1 at a fixed
            threshold can stop a loss that has not yet pushed any probability
            over the threshold (BCE or focal, early on); ``val_loss`` can stop
            where the decisions are far from their best (BCE); the tuned
            macro-F1 does neither (measured in BENCHMARKS.md, "Early stopping on
            your own data"). A list of logs keeps one best epoch per log, e.g.
            ``["val_f1_macro_tuned", "val_f1_macro"]``: one per decision rule.
            The model ends with the first's best weights;
            ``history.best_weights`` maps each log to its best weights and
            ``history.kept["also"]`` says which epoch each other log kept.
            Patience then counts the epochs in which none improved.
        dtype_policy: str or None. E.g. ``"mixed_bfloat16"``: the model is rebuilt
            under that policy (same weights; the global policy is untouched).
            The losses compute in float32 whatever the policy.
        run: RunOptions or None (preferred way to give the run options). The
            run folder, resume, TensorBoard, extra callbacks, strategy and
            deterministic ops: see :class:`RunOptions` for each. A dict of its
            fields is accepted too (unknown names raise a TypeError).
        run_dir, resume, tensorboard, callbacks, strategy, deterministic: the
            fields of :class:`RunOptions` given one by one (the paper's and the
            README's form; kept, same meaning). Not together with ``run``.

    Returns:
        ``(model, history)``: the trained model and a ``keras.callbacks.History``
        whose ``.history`` holds every epoch, including those before a resume,
        whose ``.run_dir`` is the run folder (or None), and whose ``.kept``
        says which epoch the model holds and why (:attr:`RunCheckpoint.kept`;
        printed as one line, e.g. ``kept epoch 12 of 18 (best val_f1_macro
        0.290; stopped: no improvement for 5 epochs)``, when ``verbose``), and
        whose ``.best_weights`` maps each monitored log to its best epoch's
        weights (None where not kept).

    Example:
    >>> import tempfile, numpy as np, keras, VLAP
    >>> x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    >>> y = (x[:, :3] > 0).astype("float32")
    >>> ds = VLAP.createDataset(x, y, batch_size=16, seed=0)
    >>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    >>> run = VLAP.training.RunOptions(run_dir=tempfile.mkdtemp())
    >>> model, history = VLAP.train(model, ds, ds, 3, epochs=2, seed=0, verbose=0, run=run)
    >>> sorted(k for k in history.history if k.startswith("val_f1"))
    ['val_f1_macro', 'val_f1_micro']
    >>> str(history.run_dir) == run.run_dir
    True
    """
    options = _run_options(run, dict(run_dir=run_dir, resume=resume, tensorboard=tensorboard,
                                     callbacks=callbacks, strategy=strategy,
                                     deterministic=deterministic))
    return _train(model, train_ds, val_ds, num_labels, loss=loss, epochs=epochs,
                  learning_rate=learning_rate, loss_kwargs=loss_kwargs, threshold=threshold,
                  patience=patience, restore_best=restore_best, seed=seed, verbose=verbose,
                  monitor=monitor, dtype_policy=dtype_policy, options=options)


def _train(model: Any, train_ds: Any, val_ds: Any, num_labels: int | None, *,
           loss: str | keras.losses.Loss, epochs: int, learning_rate: float | Literal["auto"],
           loss_kwargs: Mapping[str, Any] | None, threshold: float, patience: int | None,
           restore_best: bool, seed: int | None, verbose: int | str,
           monitor: str | Sequence[str],
           dtype_policy: str | None,
           options: RunOptions) -> tuple[keras.Model, keras.callbacks.History]:
    """:func:`train` once its run options are one value."""
    resume, tensorboard = options.resume, options.tensorboard
    strategy, deterministic = options.strategy, options.deterministic
    callbacks = list(options.callbacks)
    if _is_legacy_model(model):
        unsupported = {k: v for k, v in dict(run_dir=options.run_dir, resume=resume,
                                               tensorboard=tensorboard, strategy=strategy,
                                               dtype_policy=dtype_policy).items() if v}
        if unsupported:
            raise ValueError(
                "The legacy tf-keras path (transformers 4.x TF models) supports no "
                f"{sorted(unsupported)}; use a VLAP.models Keras 3 model for those.")
        return _legacy.train(model, train_ds, val_ds, num_labels, loss=loss,
                             epochs=epochs, learning_rate=learning_rate,
                             loss_kwargs=loss_kwargs, threshold=threshold, seed=seed,
                             verbose=verbose, patience=patience,
                             restore_best=restore_best, callbacks=callbacks)
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: {type(model).__name__}")
    check_positive_int("epochs", epochs)
    check_positive_int("patience", patience, allow_none=True)
    check_bool("resume", resume)
    check_bool("deterministic", deterministic)
    threshold = check_threshold(threshold)
    monitors = _check_monitor(monitor)
    if dtype_policy is not None:
        dtype_policy = keras.dtype_policies.get(dtype_policy).name
    loss_obj = resolve_loss(loss, loss_kwargs)
    num_labels = _check_num_labels(model, num_labels, outputs_per_label(loss_obj))
    lr = resolve_learning_rate(learning_rate, transformer=has_transformer_backbone(model))
    config = {"loss": loss_obj.name, "loss_config": loss_obj.get_config(),
              "monitor": monitors[0] if len(monitors) == 1 else list(monitors),
              "epochs": epochs, "learning_rate": lr,
              "threshold": threshold, "patience": patience, "restore_best": restore_best,
              "seed": seed, "num_labels": num_labels, "dtype_policy": dtype_policy,
              "model": type(model).__name__}

    run_dir, state = open_run(options.run_dir, config, resume=resume)
    if run_dir is not None and resume:  # open_run refuses resume=True without run_dir
        model, initial_epoch = load_checkpoint(run_dir, state, strategy, seed=seed)
    else:
        model = compile_for_multilabel(model, loss_obj, learning_rate=lr,
                                       threshold=threshold, num_labels=num_labels,
                                       strategy=strategy, dtype_policy=dtype_policy)
        if seed is not None:
            seed_model(model, seed)
        initial_epoch = 0
    if deterministic:
        enable_determinism()

    # A loss schedule's warm-up (VLAP.losses.Scheduled) trains other losses: its
    # epochs are never the kept one (their val_loss is on another scale) and never
    # count towards patience.
    warmup = int(getattr(getattr(model, "loss", None), "warmup_epochs", 0) or 0)
    checkpoint = RunCheckpoint(run_dir, monitors[0], patience, restore_best, state,
                               random_state=run_states, start_from_epoch=warmup,
                               also=monitors[1:])
    # A loss with state across batches (VLAP.losses.STATEFUL) is attached to this
    # model: its variables ride in the model's metrics, its callbacks go first; a
    # resumed run continues from the state its checkpoint recorded.
    attach = getattr(getattr(model, "loss", None), "attach", None)
    cbs = (list(attach(model, num_labels=num_labels, values=state.get("loss_state")))
           if callable(attach) else [])
    if set(monitors) & set(MONITORS):  # scores of the whole validation set, before their readers
        cbs.append(ValidationScores(val_ds, from_logits=bool(getattr(model.loss, "from_logits",
                                                                     True)),
                                    dual_head=outputs_per_label(model.loss) == 2))
    if resume:  # before any dropout mask of the resumed epoch (PyTorch's data iterator)
        cbs.append(RestoreTorchGenerator(state.get("torch_rng_state")))
    if run_dir is not None:  # the history row first: state.json commits the epoch
        cbs.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume))
    cbs.append(checkpoint)
    if tensorboard and run_dir is not None:
        cbs.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    cbs += callbacks

    history = keras.callbacks.History()
    if initial_epoch < epochs and not checkpoint.finished:
        stream, steps = epoch_stream(train_ds, initial_epoch)
        build_for_fit(model, stream, strategy)  # no extra iterator over the stream
        with one_iterator(model):  # nor under a tf.distribute strategy
            history = model.fit(stream, validation_data=val_ds, epochs=epochs,
                                steps_per_epoch=steps, initial_epoch=initial_epoch,
                                callbacks=cbs, verbose=verbose, shuffle=False)
    else:
        checkpoint.set_model(model)
        checkpoint.on_train_begin()
        checkpoint.on_train_end()
    if run_dir is not None:  # the full history, including epochs before a resume
        rows = history_rows(run_dir / "history.csv")
        if rows:
            history.history = {k: [float(r[k]) for r in rows] for k in rows[0] if k != "epoch"}
            history.epoch = [int(r["epoch"]) for r in rows]
    history.run_dir = run_dir
    history.kept = checkpoint.kept
    history.best_weights = checkpoint.best_weights_of
    if verbose and history.kept is not None:
        print(describe_kept(history.kept))
    return model, history
