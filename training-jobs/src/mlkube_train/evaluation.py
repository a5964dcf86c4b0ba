"""Classification metrics and the confusion-matrix figure every trainer logs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def classification_metrics(y_true, y_pred, labels: Sequence) -> dict[str, float]:
    precision, recall, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=list(labels), zero_division=0)
    metrics = {
        "test_accuracy": float(accuracy_score(y_true, y_pred)),
        "test_f1_macro": float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0)),
    }
    for label, p, r in zip(labels, precision, recall, strict=True):
        metrics[f"test_precision_{label}"] = float(p)
        metrics[f"test_recall_{label}"] = float(r)
    return metrics


def confusion_figure(y_true, y_pred, labels: Sequence, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = confusion_matrix(y_true, y_pred, labels=list(labels))
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(labels), 1.0 + 0.6 * len(labels)), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(np.arange(len(labels)), [str(x) for x in labels], rotation=45, ha="right")
    ax.set_yticks(np.arange(len(labels)), [str(x) for x in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    fig.tight_layout()
    return fig
