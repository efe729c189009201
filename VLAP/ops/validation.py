"""Checks shared by the Keras losses, the soft scores and VLAP.torch.

Two layers (as scikit-learn and torchmetrics do): static-shape checks run on any
tensor, including traced ones; value checks (labels in {0, 1}, no NaN) run only
on *concrete* inputs: NumPy arrays, Python lists, eager tensors. Traced graph
code is never made to synchronise for them.
"""

import numpy as np


def check_shapes(y_true_shape, y_pred_shape):
    """Static check: ``(batch_size, num_labels)`` for both, and the same shape."""
    for name, shape in (("y_true", y_true_shape), ("y_pred", y_pred_shape)):
        if len(shape) != 2:
            raise ValueError(
                f"`{name}` must have shape (batch_size, num_labels). "
                f"Received: {name}.shape={tuple(shape)}"
            )
    for a, b in zip(y_true_shape, y_pred_shape):
        if a is not None and b is not None and a != b:
            raise ValueError(
                "`y_true` and `y_pred` must have the same shape. Received: "
                f"y_true.shape={tuple(y_true_shape)}, y_pred.shape={tuple(y_pred_shape)}"
            )


def check_values(y_true, y_pred, *, from_logits):
    """Value checks on concrete NumPy arrays (call only when inputs are concrete)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.size and not np.isin(y_true, (0, 1)).all():
        bad = np.unique(y_true[~np.isin(y_true, (0, 1))])[:5]
        raise ValueError(
            "`y_true` must be a 0/1 indicator matrix of shape (batch_size, "
            f"num_labels). Received values other than 0 and 1: {bad.tolist()}"
        )
    if not np.isfinite(y_pred).all():
        raise ValueError(
            "`y_pred` contains NaN or infinite values "
            f"({int((~np.isfinite(y_pred)).sum())} of {y_pred.size})."
        )
    if not from_logits and y_pred.size and (y_pred.min() < 0 or y_pred.max() > 1):
        raise ValueError(
            "With from_logits=False, `y_pred` must hold probabilities in [0, 1]. "
            f"Received values in [{y_pred.min()}, {y_pred.max()}]. Pass logits with "
            "from_logits=True."
        )
