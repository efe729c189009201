"""Figures for experiments, as PNG files (matplotlib, no display needed).

The figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, so importing this module never changes matplotlib's global backend and
works on machines without a display.

- :func:`learning_curves`: validation macro-F1 and training loss per epoch, one
  line per loss;
- :func:`per_label_f1`: per-label F1 on the test split, bars per loss;
- :func:`label_count_histogram`: how many labels each example gets, predicted
  (per loss) against true;
- :func:`surrogate_vs_f1`: sigmoidF1's smooth F1 against the exact F1 of
  thresholded predictions, for several slopes ``beta``.

Example:
>>> import tempfile, os
>>> path = surrogate_vs_f1(os.path.join(tempfile.mkdtemp(), "s.png"), betas=(1.0, 10.0))
>>> open(path, "rb").read(8) == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(file, format="png")
    return file


def learning_curves(histories: Mapping[str, Mapping[str, Sequence[float]]],
                    path: str | os.PathLike[str], title: str = "") -> Path:
    """Validation macro-F1 and training loss per epoch, one line per loss.

    Args:
        histories: dict. Display name -> a Keras ``history.history`` dict
            (``val_f1_macro``, ``loss``).
        path: str or Path. The PNG to write.
        title: str. Figure title.

    Returns:
        Path. The PNG written.
    """
    fig = _figure(10, 4)
    ax_f1, ax_loss = fig.subplots(1, 2)
    for name, hist in histories.items():
        if "val_f1_macro" in hist:
            ax_f1.plot(np.arange(1, len(hist["val_f1_macro"]) + 1), hist["val_f1_macro"],
                       marker=".", label=name)
        if "loss" in hist:
            ax_loss.plot(np.arange(1, len(hist["loss"]) + 1), hist["loss"], marker=".",
                         label=name)
    ax_f1.set(xlabel="epoch", ylabel="validation macro-F1 @ threshold",
              title="validation macro-F1")
    ax_loss.set(xlabel="epoch", ylabel="training loss (each loss on its own scale)",
                title="training loss")
    ax_f1.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def per_label_f1(tables: Mapping[str, Any], path: str | os.PathLike[str], title: str = "",
                 max_labels: int = 40) -> Path:
    """Grouped bars of per-label test F1, one colour per loss.

    Args:
        tables: dict. Display name -> per-label DataFrame from
            ``evaluate_predictions(..., per_label=True)`` (column ``f1``,
            ``support``).
        path: str or Path. The PNG to write.
        title: str. Figure title.
        max_labels: int. Show only the most frequent labels (by test support).

    Returns:
        Path. The PNG written.
    """
    names = list(tables)
    first = tables[names[0]]
    order = first["support"].sort_values(ascending=False, kind="stable").index[:max_labels]
    n_labels, n_losses = len(order), len(names)
    fig = _figure(max(8.0, 0.35 * n_labels * max(1, n_losses) / 2), 4.5)
    ax = fig.subplots()
    width = 0.8 / n_losses
    x = np.arange(n_labels)
    for i, name in enumerate(names):
        ax.bar(x + i * width - 0.4 + width / 2, tables[name].loc[order, "f1"].to_numpy(),
               width=width, label=name)
    ax.set_xticks(x, [str(lab) for lab in order], rotation=90, fontsize=7)
    ax.set(ylabel="test F1", ylim=(0, 1),
           title=title or "per-label F1 (labels by test support, most frequent first)")
    ax.legend(fontsize=7, ncol=min(3, n_losses))
    return _save(fig, path)


def label_count_histogram(true_counts: Any, predicted_counts: Mapping[str, Any],
                          path: str | os.PathLike[str], title: str = "") -> Path:
    """Histogram of labels per example: true beside predicted for each loss.

    Args:
        true_counts: array of ints. True number of labels per test example.
        predicted_counts: dict. Display name -> array of predicted counts.
        path: str or Path. The PNG to write.
        title: str. Figure title.

    Returns:
        Path. The PNG written.
    """
    true_counts = np.asarray(true_counts, dtype=int)
    all_counts = [true_counts] + [np.asarray(c, dtype=int) for c in predicted_counts.values()]
    top = int(max(c.max() for c in all_counts))
    bins = np.arange(top + 1)
    series = {"true": true_counts, **predicted_counts}
    fig = _figure(9, 4.5)
    ax = fig.subplots()
    width = 0.85 / len(series)
    for i, (name, counts) in enumerate(series.items()):
        freq = np.bincount(np.asarray(counts, dtype=int), minlength=top + 1) / len(counts)
        ax.bar(bins + i * width - 0.425 + width / 2, freq, width=width,
               label=f"{name} (mean {np.mean(counts):.2f})",
               color="black" if name == "true" else None)
    ax.set(xlabel="labels per example", ylabel="fraction of test examples",
           title=title or "predicted vs true number of labels per example")
    ax.set_xticks(bins)
    ax.legend(fontsize=7)
    return _save(fig, path)


def surrogate_vs_f1(path: str | os.PathLike[str], betas: Sequence[float] = (1.0, 5.0, 10.0, 30.0),
                    eta: float = 0.0, seed: int = 0) -> Path:
    """sigmoidF1's smooth macro-F1 against the exact macro-F1, for several beta.

    Random labels and logits are shifted by an offset ``t``; the exact score
    thresholds ``logit + t > 0`` (probability 0.5), the surrogate is
    ``1 - sigmoid_f1(y, logit + t, beta=beta, eta=eta)``. Larger ``beta`` makes
    the surrogate follow the step function more closely (and its gradient
    sharper).

    Returns:
        Path. The PNG written.
    """
    from sklearn.metrics import f1_score

    from VLAP.losses import sigmoid_f1

    rng = np.random.default_rng(seed)
    y = (rng.random((256, 5)) < 0.3).astype("float32")
    logits = (rng.normal(size=y.shape) + 1.5 * (2 * y - 1)).astype("float32")
    shifts = np.linspace(-6, 6, 61)
    exact = [f1_score(y, (logits + t > 0).astype(int), average="macro", zero_division=0)
             for t in shifts]
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    ax.plot(shifts, exact, color="black", linewidth=2, label="exact macro-F1 (threshold 0.5)")
    for beta in betas:
        soft = [1.0 - float(sigmoid_f1(y, logits + t, beta=float(beta), eta=float(eta)))
                for t in shifts]
        ax.plot(shifts, soft, label=f"sigmoidF1 surrogate, β={beta:g}, η={eta:g}")
    ax.set(xlabel="offset t added to every logit", ylabel="macro-F1",
           title="sigmoidF1's smooth F1 vs exact F1")
    ax.legend(fontsize=8)
    return _save(fig, path)


__all__ = ["learning_curves", "per_label_f1", "label_count_histogram", "surrogate_vs_f1",
           "PNG_SIGNATURE"]
