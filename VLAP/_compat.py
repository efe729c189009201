"""Every use of Keras', keras-hub's and TensorFlow's private API, behind one function each.

VLAP needs a few things these libraries do not expose: which way a metric
improves (for ``mode="auto"`` of Keras' callbacks), a model's layers and random
generators (exact resume), building a compiled model without reading data, a
keras-hub encoder's sub-layers (its feed-forward layer; all of them for the MiniLM
forward pass on torch), and TensorFlow's global seed. Each
function below is the only place that touches one of them, and
``tests/test_keras_compat.py`` has a test per function that fails when the
library changes what it relies on.

**Version guard.** :data:`VERIFIED` holds, per library, the versions the
functions were checked against (``[first, next)`` minor versions: what
``pyproject.toml`` installs and CI runs). Inside that range a function uses the
private member as it is. Outside it (a newer release), it first checks that the
member is still there (and callable where it is called); if it is, it is used
(CI's ``tests/test_keras_compat.py`` then says whether it still behaves as
assumed), and if not, the function's documented fallback runs or it raises a
:class:`RuntimeError` that names the library, its version, the private member and
the verified range. This module imports no library at import time.
"""

import contextlib
import sys

#: library -> ``(first, next)``: the (major, minor) versions the private members used
#: here were verified with (tests/test_keras_compat.py); next is excluded.
VERIFIED = {
    "keras": ((3, 15), (3, 16)),
    "keras_hub": ((0, 32), (0, 33)),
    "tensorflow": ((2, 21), (2, 22)),
}


def _version(text):
    """``"3.15.1"`` -> ``(3, 15)``; the leading (major, minor) numbers of a version."""
    parts = []
    for part in str(text).split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (2 - len(parts)))


def verified(library, version=None):
    """True when ``library``'s version (its ``__version__``, or ``version``) is in
    :data:`VERIFIED`'s range for it.

    Example:
    >>> verified("keras", "3.15.1"), verified("keras", "3.16.0"), verified("keras", "3.9")
    (True, False, False)
    """
    if version is None:
        version = getattr(sys.modules.get(library) or __import__(library), "__version__", "0")
    first, next_ = VERIFIED[library]
    return first <= _version(version) < next_


def _missing(library, member, use):
    """The error of a private member that a newer library no longer has."""
    module = sys.modules.get(library)
    version = getattr(module, "__version__", "?")
    first, next_ = VERIFIED[library]
    return RuntimeError(
        f"{use} needs {library}'s private `{member}`, which {library} {version} does not "
        f"have (VLAP was verified with {library} >={first[0]}.{first[1]},<"
        f"{next_[0]}.{next_[1]}). Install a verified {library} version, or report this "
        "at VLAP's issue tracker.")


def _has(library, obj, member):
    """Inside the verified range: True (trusted); outside it: whether ``obj`` has it."""
    return verified(library) or hasattr(obj, member)


# === Keras ===


def set_metric_direction(metric, direction):
    """Tell Keras' callbacks which way ``metric`` improves (``"up"`` or ``"down"``).

    Keras' ``EarlyStopping``/``ModelCheckpoint``/``ReduceLROnPlateau`` with
    ``mode="auto"`` read a metric's private ``_direction``. Fallback outside the
    verified range: the attribute is set all the same (it is harmless where
    unread); a Keras that no longer reads it makes ``mode="auto"`` guess, so pass
    ``mode="max"``/``"min"`` to those callbacks.
    """
    if direction not in ("up", "down"):
        raise ValueError("`direction` must be 'up' or 'down'. "
                         f"Received: direction={direction!r}")
    metric._direction = direction


def attach_metric(model, name, metric):
    """Set ``metric`` (a ``keras.metrics.Metric``) as attribute ``name`` of a built
    ``model`` so that ``model.metrics`` carries it (its variables are then reset,
    saved and restored with the model's). Keras' layers track a metric assigned to
    an attribute through their private tracker, built or not; outside the verified
    range this is checked and a RuntimeError raised if it no longer happens."""
    setattr(model, name, metric)
    if not verified("keras") and not any(m is metric for m in model.metrics):
        raise _missing("keras", "Layer._tracker (a metric set as an attribute is tracked)",
                       "A stateful loss's state")


def flatten_layers(model, include_self=True):
    """Every layer of ``model``, nested ones included, in Keras' order
    (``Layer._flatten_layers``). Fallback outside the verified range: a walk of
    the public ``layers`` lists (it misses sub-layers a custom layer holds in plain
    attributes)."""
    if _has("keras", model, "_flatten_layers"):
        return list(model._flatten_layers(include_self=include_self, recursive=True))
    out, todo = [], [model]
    while todo:  # depth first, as Keras
        layer = todo.pop(0)
        if layer is not model or include_self:
            out.append(layer)
        todo[:0] = list(getattr(layer, "layers", None) or [])
    return out


def layer_seed_generators(layer):
    """The ``keras.random.SeedGenerator`` objects a layer owns (``Layer._seed_generators``;
    none for an object without it). Raises outside the verified range if a Keras
    layer no longer has it."""
    if not hasattr(layer, "_seed_generators"):
        import keras

        if not verified("keras") and isinstance(layer, keras.layers.Layer):
            raise _missing("keras", "Layer._seed_generators", "Exact resume (the model's "
                           "random generators)")
        return []
    return list(layer._seed_generators)


def mark_seeded(seed_generator, seed):
    """Mark an unseeded ``SeedGenerator`` as seeded with ``seed`` (its private
    ``_initial_seed``; on PyTorch Keras draws an unseeded dropout's masks from
    torch's global generator instead of the layer's own). A generator made with
    a seed keeps it. Raises outside the verified range if the attribute is gone."""
    if not _has("keras", seed_generator, "_initial_seed"):
        raise _missing("keras", "SeedGenerator._initial_seed", "Seeding a model's dropout")
    if seed_generator._initial_seed is None:
        seed_generator._initial_seed = seed


def can_build_symbolically(model):
    """Whether :func:`symbolic_build` can build ``model`` (Keras' trainer has
    ``_symbolic_build``); when not, ``fit`` builds the model from a first batch."""
    return hasattr(model, "_symbolic_build") and (
        verified("keras") or callable(getattr(model, "_symbolic_build", None)))


def symbolic_build(model, data_batch):
    """Build a compiled model's variables, optimizer, loss and metrics from symbolic
    inputs (``Trainer._symbolic_build(data_batch=...)``, as Keras itself does with a
    data batch). Fallback when :func:`can_build_symbolically` is False: nothing is
    built here (returns False)."""
    if not can_build_symbolically(model):
        return False
    model._symbolic_build(data_batch=data_batch)
    return True


def compiled_parts(model):
    """``(compiled loss, compiled metrics)`` of a compiled model, None where Keras has
    none (``Trainer._compile_loss``, ``Trainer._compile_metrics``)."""
    return getattr(model, "_compile_loss", None), getattr(model, "_compile_metrics", None)


def distribute_strategy(model):
    """The ``tf.distribute`` strategy a TensorFlow-backend model was made under, or
    None (``TensorFlowTrainer._distribute_strategy``; None on other backends)."""
    return getattr(model, "_distribute_strategy", None)


@contextlib.contextmanager
def no_symbolic_build_at_fit(model):
    """While the context is open, ``fit`` does not build ``model`` from a batch of an
    extra iterator (TensorFlow's trainer under a strategy calls its private
    ``_maybe_symbolic_build`` at the start of ``fit``, which reads a batch even when
    everything is built): that method is replaced on the instance by a no-op, then
    restored. Use it only for a model that is built. Fallback (no such method):
    nothing is changed."""
    if not hasattr(model, "_maybe_symbolic_build"):
        yield model
        return

    def built_already(iterator=None, data_batch=None):
        """Everything is built: read no batch."""

    model._maybe_symbolic_build = built_already
    try:
        yield model
    finally:
        del model._maybe_symbolic_build


def has_symbolic_build_at_fit(model):
    """Whether ``fit`` would build ``model`` from a batch (:func:`no_symbolic_build_at_fit`)."""
    return hasattr(model, "_maybe_symbolic_build")


# === keras-hub ===


def encoder_feedforward_dense(encoder):
    """The first (intermediate) ``Dense`` of a keras-hub ``TransformerEncoder``'s
    feed-forward block (``_feedforward_intermediate_dense``), whose activation the
    encoder's ``activation`` only sets when the layer is built; None before the
    encoder is built. Fallback outside the verified range: None when it is gone
    (the encoder's ``activation`` is then all VLAP sets)."""
    return getattr(encoder, "_feedforward_intermediate_dense", None)


#: role -> the private attribute of a keras-hub ``TransformerEncoder`` that holds it.
ENCODER_SUBLAYERS = {
    "attention": "_self_attention_layer",
    "attention_norm": "_self_attention_layer_norm",
    "intermediate": "_feedforward_intermediate_dense",
    "output": "_feedforward_output_dense",
    "feedforward_norm": "_feedforward_layer_norm",
}


def encoder_sublayers(encoder):
    """The sub-layers of a built keras-hub ``TransformerEncoder`` by role (a dict with
    the keys of :data:`ENCODER_SUBLAYERS`: its ``MultiHeadAttention``, the two
    ``LayerNormalization`` and the feed-forward ``Dense`` pair), for a forward pass
    that reads their weights (:mod:`VLAP.models.text.forward`: on torch, one fused
    linear per projection instead of Keras' matmul-then-add). keras-hub keeps them in
    private attributes. Fallback (not built, or one of them gone in a newer
    keras-hub): None, and the caller runs the encoder's own call."""
    if not getattr(encoder, "built", False):
        return None
    parts = {role: getattr(encoder, name, None) for role, name in ENCODER_SUBLAYERS.items()}
    return None if any(layer is None for layer in parts.values()) else parts


# === TensorFlow ===


@contextlib.contextmanager
def pinned_global_seed(seed):
    """Set TensorFlow's global seed to ``seed`` inside the context, then restore its
    previous global seed and op-seed sequence (the eager context's private
    ``_seed``/``_rng``). Fallback (TensorFlow absent, or those gone): nothing is
    pinned."""
    try:
        from tensorflow.python.eager import context
    except ImportError:  # pragma: no cover
        yield False
        return
    ctx = context.context()
    if not hasattr(ctx, "_seed"):  # pragma: no cover
        yield False
        return
    missing = object()
    old_seed, old_rng = ctx._seed, getattr(ctx, "_rng", missing)
    context.set_global_seed(seed)
    try:
        yield True
    finally:
        ctx._seed = old_seed
        if old_rng is missing:
            del ctx._rng  # it did not exist before the first tf.random.set_seed
        else:
            ctx._rng = old_rng
