"""The compiled forest evaluator against scikit-learn itself: the same probabilities, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from mlkube_server.trees import CompiledForest, compile_forest


def _data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    return X, y


@pytest.mark.parametrize(
    "forest",
    [
        RandomForestClassifier(n_estimators=40, random_state=0),
        RandomForestClassifier(n_estimators=15, max_depth=3, min_samples_leaf=5, random_state=1),
        ExtraTreesClassifier(n_estimators=25, random_state=2),
        RandomForestClassifier(n_estimators=10, class_weight="balanced", bootstrap=False, random_state=3),
    ],
)
def test_compiled_forest_reproduces_predict_proba(forest) -> None:
    X, y = _data(300)
    forest.fit(X, y)
    compiled = CompiledForest.from_forest(forest)
    probe, _ = _data(500, seed=9)
    probe[::11, 2] = 1e9  # beyond every threshold
    assert np.array_equal(compiled.predict_proba(probe), forest.predict_proba(probe))


def test_missing_values_go_where_training_sent_them() -> None:
    X, y = _data(400)
    X[::5, 1] = np.nan  # scikit-learn >= 1.4 forests learn a side for NaN at each split
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    compiled = CompiledForest.from_forest(forest)
    probe, _ = _data(200, seed=5)
    probe[::3, 1] = np.nan
    assert np.array_equal(compiled.predict_proba(probe), forest.predict_proba(probe))


def test_only_forest_classifiers_compile() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = _data(100)
    assert compile_forest(LogisticRegression().fit(X, y)) is None
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    predict_proba = compile_forest(forest)
    assert predict_proba is not None
    assert np.array_equal(predict_proba(X), forest.predict_proba(X))
    with pytest.raises(ValueError, match="expected 5 features"):
        predict_proba(X[:, :3])
