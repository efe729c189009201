"""NumPy references written from the published formulas, independent of VLAP.ops.core."""

import numpy as np

EPS = 1e-7


def sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def counts(y, s):
    y = np.asarray(y, np.float64)
    return (s * y).sum(0), (s * (1 - y)).sum(0), ((1 - s) * (1 - y)).sum(0), ((1 - s) * y).sum(0)


def sigmoid_f1(y, u, beta=1.0, eta=0.0, average="macro"):
    """The paper: S(u) = 1/(1+exp(-beta(u+eta))); F1 = 2tp/(2tp+fp+fn); loss 1 - F1."""
    tp, fp, tn, fn = counts(y, sigmoid(beta * (np.asarray(u, np.float64) + eta)))
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    return 1 - np.mean(2 * tp / (2 * tp + fp + fn + EPS))


def soft_scores(y, s, f_beta=1.0):
    """Per-label soft scores from probabilities-as-given (no average)."""
    tp, fp, tn, fn = counts(y, np.asarray(s, np.float64))
    b2 = f_beta ** 2
    return {
        "fbeta": (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp + EPS),
        "precision": tp / (tp + fp + EPS),
        "recall": tp / (tp + fn + EPS),
        "jaccard": tp / (tp + fp + fn + EPS),
        "mcc": (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + EPS),
    }


def bce(y, u):
    p = sigmoid(u)
    y = np.asarray(y, np.float64)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1)


def focal(y, u, alpha=0.25, gamma=2.0):
    """Lin et al. 2017, eq. 5: FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)."""
    p = sigmoid(u)
    y = np.asarray(y, np.float64)
    p_t = np.where(y == 1, p, 1 - p)
    a_t = np.where(y == 1, alpha, 1 - alpha)
    return np.mean(-a_t * (1 - p_t) ** gamma * np.log(p_t), axis=-1)


def asl(y, u, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, eps=1e-8):
    """Ridnik et al. 2021, eq. 2-4: L+ = (1-p)^g+ log p; L- = p_m^g- log(1-p_m),
    p_m = max(p - m, 0). Logs clamped at eps as in the authors' code."""
    p = sigmoid(u)
    y = np.asarray(y, np.float64)
    p_m = np.maximum(p - clip, 0)
    l_pos = (1 - p) ** gamma_pos * np.log(np.maximum(p, eps))
    l_neg = p_m ** gamma_neg * np.log(np.maximum(1 - p_m, eps))
    return np.mean(-(y * l_pos + (1 - y) * l_neg), axis=-1)
