"""How good a binary classifier's probabilities are, and where to decide: pure functions of
labels and scores, used when a model is described (its card) and when the demo model is trained."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

THRESHOLD_RULE = "maximises F1 on the validation split, 0.01 grid"


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) identity; ties get half credit."""
    ranks = rankdata(scores)
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    p = np.clip(probabilities, 1e-15, 1 - 1e-15)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def best_f1_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The threshold, on a 0.01 grid, that maximises F1 (the lowest one on ties)."""
    best, best_f1 = 0.5, -1.0
    for threshold in np.round(np.arange(0.05, 0.96, 0.01), 2):
        predicted = probabilities >= threshold
        tp = float(np.sum(predicted & (labels == 1)))
        denominator = float(predicted.sum() + labels.sum())
        f1 = 2 * tp / denominator if denominator else 0.0
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(threshold), f1
    return best
