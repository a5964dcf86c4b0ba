"""The compiled forest evaluator against scikit-learn itself: the same probabilities, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlkube_server.trees import CompiledForest, accelerate


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


def _pipeline(final) -> tuple[Pipeline, pd.DataFrame]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"size": rng.normal(10, 3, 200), "kind": rng.choice(["a", "b", "c"], 200)})
    target = (frame["size"] > 10).astype(int) + (frame["kind"] == "c")
    prep = ColumnTransformer([("num", StandardScaler(), ["size"]), ("cat", OneHotEncoder(), ["kind"])])
    return Pipeline([("prep", prep), ("model", final)]).fit(frame, target), frame


def test_accelerate_keeps_the_pipeline_preprocessing() -> None:
    pipeline, frame = _pipeline(RandomForestClassifier(n_estimators=30, random_state=0))
    fast = accelerate(pipeline, frame.head(50))
    assert fast is not None
    assert np.array_equal(fast(frame), pipeline.predict_proba(frame))


def test_accelerate_leaves_other_estimators_alone() -> None:
    pipeline, frame = _pipeline(LogisticRegression())
    assert accelerate(pipeline, frame.head(50)) is None


def test_accelerate_refuses_when_the_probe_disagrees(monkeypatch) -> None:
    pipeline, frame = _pipeline(RandomForestClassifier(n_estimators=5, random_state=0))
    honest = CompiledForest.predict_proba
    monkeypatch.setattr(CompiledForest, "predict_proba", lambda self, X: honest(self, X) + 1e-9)
    assert accelerate(pipeline, frame) is None
