"""Compiled tree ensembles: a fitted scikit-learn forest evaluated for all trees and rows at once.

scikit-learn walks each of a forest's trees in turn, with Python-level work per tree, so a random forest
of 100 trees costs milliseconds even for one row. Here every tree's nodes are stacked into flat arrays and
all (row, tree) pairs descend one level per step in a handful of NumPy operations: the same comparisons
(float32 features against the stored thresholds, missing values sent where training sent them), the same
leaf values and the same accumulation over trees, in far less time. This is what Triton's FIL backend or
Treelite do for GPUs and C; it needs nothing but NumPy.

Only the evaluator lives here; the preprocessing before it may be compiled too (preprocess.py), and either
is used only when the result matches scikit-learn's ``predict_proba`` on probe rows (sklearn_fast.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

LEAF = -1  # scikit-learn's TREE_LEAF: children of a leaf


@dataclass(frozen=True)
class CompiledForest:
    """All trees of a single-output forest classifier as flat node arrays."""

    roots: np.ndarray  # (trees,) index of each tree's root node
    feature: np.ndarray  # (nodes,) feature tested; 0 at leaves (unused)
    threshold: np.ndarray  # (nodes,) float64 threshold; a leaf loops on itself, whatever the comparison
    left: np.ndarray  # (nodes,) next node when the test holds; the node itself at leaves
    right: np.ndarray  # (nodes,) next node otherwise; the node itself at leaves
    missing_left: np.ndarray | None  # (nodes,) where NaN goes (scikit-learn >= 1.3), None when no tree has NaN support
    leaf_proba: np.ndarray  # (nodes, classes) what the tree's predict_proba answers for a row ending there
    depth: int  # longest root-to-leaf path
    n_features: int

    @classmethod
    def from_forest(cls, forest: Any) -> CompiledForest:
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = np.array([tree.node_count for tree in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.arange(int(sizes.sum()))
        left = np.concatenate([tree.children_left + off for tree, off in zip(trees, offsets, strict=True)])
        right = np.concatenate([tree.children_right + off for tree, off in zip(trees, offsets, strict=True)])
        is_leaf = np.concatenate([tree.children_left == LEAF for tree in trees])
        left[is_leaf] = nodes[is_leaf]
        right[is_leaf] = nodes[is_leaf]
        feature = np.concatenate([tree.feature for tree in trees]).astype(np.intp)
        feature[is_leaf] = 0
        missing = [m for tree in trees if (m := getattr(tree, "missing_go_to_left", None)) is not None]
        missing_left = (
            np.concatenate(missing).astype(bool)
            if len(missing) == len(trees) and any(m.any() for m in missing)
            else None
        )
        # DecisionTreeClassifier.predict_proba: the node's value for output 0. scikit-learn >= 1.4 stores class
        # fractions there and returns them as they are; older versions stored counts and divided by their sum.
        values = np.concatenate([tree.value[:, 0, :] for tree in trees]).astype(np.float64)
        sums = values.sum(axis=1, keepdims=True)
        counts = not np.allclose(sums[is_leaf], 1.0, rtol=0, atol=1e-9)
        normaliser = np.where(sums == 0.0, 1.0, sums) if counts else 1.0
        return cls(
            roots=offsets.astype(np.intp),
            feature=feature,
            threshold=np.concatenate([tree.threshold for tree in trees]).astype(np.float64),
            left=left.astype(np.intp),
            right=right.astype(np.intp),
            missing_left=missing_left,
            leaf_proba=values / normaliser,
            depth=max(int(tree.max_depth) for tree in trees),
            n_features=int(forest.n_features_in_),
        )

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """(rows, trees) leaf index of every row in every tree."""
        rows = np.arange(X.shape[0])[:, np.newaxis]
        node = np.broadcast_to(self.roots, (X.shape[0], self.roots.size)).copy()
        for _ in range(self.depth):
            value = X[rows, self.feature[node]]
            go_left = value <= self.threshold[node]
            if self.missing_left is not None:
                go_left |= np.isnan(value) & self.missing_left[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return node

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        # Trees compare float32 features (scikit-learn casts its input to float32 before walking the trees).
        X = np.asarray(X, dtype=np.float32)
        per_tree = self.leaf_proba[self.leaves(X).T]  # (trees, rows, classes), in the forest's order
        # Summed tree after tree, as the forest accumulates them, then averaged.
        return np.add.reduce(per_tree, axis=0) / self.roots.size


def _forest_classifier(estimator: Any) -> bool:
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    return (
        type(estimator) in (RandomForestClassifier, ExtraTreesClassifier)
        and getattr(estimator, "n_outputs_", 1) == 1
        and hasattr(estimator, "estimators_")
    )


def compile_forest(estimator: Any) -> Callable[[Any], np.ndarray] | None:
    """``predict_proba`` of a fitted single-output random forest / extra-trees classifier, or None for any
    other estimator. The caller checks it against scikit-learn before using it (sklearn_fast.py)."""
    if not _forest_classifier(estimator):
        return None
    forest = CompiledForest.from_forest(estimator)

    def predict_proba(features: Any) -> np.ndarray:
        X = features.toarray() if hasattr(features, "toarray") else np.asarray(features)
        if X.ndim != 2 or X.shape[1] != forest.n_features:
            raise ValueError(f"expected {forest.n_features} features, got shape {X.shape}")
        return forest.predict_proba(X)

    return predict_proba
