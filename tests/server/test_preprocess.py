"""Compiled preprocessing (preprocess.py) and the choice of fast path (kinds/sklearn_fast.py) against
scikit-learn itself: the same features to 1e-12, the same probabilities, and scikit-learn wherever not."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

from mlkube_models.penguins_features import NUMERIC_FEATURES
from mlkube_server.kinds.sklearn_fast import fast_path
from mlkube_server.preprocess import Unsupported, compile_columns
from mlkube_server.schema import Column, TabularSchema
from mlkube_server.trees import CompiledForest
from mlkube_train.penguins.pipeline import Algorithm, make_pipeline

ISLANDS = ["Biscoe", "Dream", "Torgersen"]
SEXES = ["female", "male"]


def _penguins(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "bill_length_mm": rng.uniform(32, 60, rows),
            "bill_depth_mm": rng.uniform(13, 22, rows),
            "flipper_length_mm": rng.uniform(170, 232, rows),
            "body_mass_g": rng.uniform(2700, 6300, rows),
            "island": rng.choice(ISLANDS, rows).astype(object),
            "sex": rng.choice(SEXES, rows).astype(object),
        }
    )
    frame.loc[::9, "bill_depth_mm"] = np.nan
    frame.loc[::11, "sex"] = None
    species = (frame["bill_length_mm"] > 45).astype(int) + (frame["island"] == "Dream")
    return frame, species.to_numpy()


def _schema() -> TabularSchema:
    numbers = [Column(name, "double", required=False, minimum=1.0, maximum=6000.0) for name in NUMERIC_FEATURES]
    return TabularSchema(
        [
            *numbers,
            Column("island", "string", categories=tuple(ISLANDS)),
            Column("sex", "string", required=False, categories=tuple(SEXES)),
        ],
        check_ranges=False,
    )


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {name: frame[name].to_numpy() for name in frame.columns}


@pytest.mark.parametrize("algorithm", [Algorithm.random_forest, Algorithm.logistic_regression, Algorithm.svm])
def test_the_trainers_preprocessing_compiles_to_the_same_features(algorithm) -> None:
    frame, species = _penguins(300)
    pipeline = make_pipeline(algorithm, seed=0).fit(frame, species)
    probe, _ = _penguins(200, seed=4)
    compiled = compile_columns(pipeline[0])
    expected = pipeline[0].transform(probe)
    expected = expected.toarray() if hasattr(expected, "toarray") else expected
    got = compiled(_columns(probe))
    assert got.shape == expected.shape
    assert np.allclose(got, expected, rtol=0, atol=1e-12)
    assert not np.isnan(got).any()  # the missing numbers and categories were imputed


@pytest.mark.parametrize(
    "transformer",
    [
        ColumnTransformer([("num", StandardScaler(), ["size"]), ("no", "drop", ["kind"])], remainder="passthrough"),
        ColumnTransformer([("num", StandardScaler(with_mean=False), ["size", "count"])]),
        ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error", sparse_output=False), ["kind"])]),
        ColumnTransformer(
            [
                ("cat", OneHotEncoder(), ["kind", "count"]),
                (
                    "num",
                    Pipeline([("fill", SimpleImputer(strategy="mean")), ("log", FunctionTransformer(np.log1p))]),
                    ["size"],
                ),
            ]
        ),
        ColumnTransformer(
            [("num", SimpleImputer(strategy="constant", fill_value=-1.0), ["size"]), ("pass", "passthrough", ["count"])]
        ),
    ],
)
def test_variations_match_column_transformer(transformer) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "size": rng.uniform(1, 9, 120),
            "count": rng.integers(0, 4, 120),
            "kind": rng.choice(["a", "b", "c"], 120).astype(object),
        }
    )
    fitted = transformer.fit(frame)
    expected = fitted.transform(frame)
    expected = expected.toarray() if hasattr(expected, "toarray") else np.asarray(expected, dtype=np.float64)
    got = compile_columns(fitted)(_columns(frame))
    assert np.allclose(got, expected, rtol=0, atol=1e-12)


def test_an_unknown_category_is_ignored_or_refused_as_the_encoder_says() -> None:
    frame = pd.DataFrame({"kind": np.array(["a", "b"], dtype=object)})
    ignoring = compile_columns(ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["kind"])]).fit(frame))
    assert ignoring({"kind": np.array(["z", "b"], dtype=object)}).tolist() == [[0.0, 0.0], [0.0, 1.0]]
    strict = compile_columns(ColumnTransformer([("c", OneHotEncoder(handle_unknown="error"), ["kind"])]).fit(frame))
    with pytest.raises(ValueError, match="unknown categories"):
        strict({"kind": np.array(["z"], dtype=object)})


@pytest.mark.parametrize(
    ("transformer", "named"),
    [
        (ColumnTransformer([("num", MinMaxScaler(), ["size"])]), "num: MinMaxScaler"),
        (ColumnTransformer([("num", SimpleImputer(add_indicator=True), ["size"])]), "indicators"),
        (ColumnTransformer([("cat", OneHotEncoder(drop="first"), ["kind"])]), "drop"),
        (ColumnTransformer([("cat", OneHotEncoder(min_frequency=5), ["kind"])]), "infrequent"),
        (ColumnTransformer([("f", FunctionTransformer(np.log1p), ["size"])]), "first step"),
        (ColumnTransformer([("num", StandardScaler(), ["size"])]).set_output(transform="pandas"), "pandas"),
        (ColumnTransformer([("num", StandardScaler(), ["size"])], transformer_weights={"num": 2.0}), "weights"),
        (ColumnTransformer([("num", StandardScaler(), slice(0, 1))]), "by slice"),
    ],
)
def test_unsupported_steps_are_refused_by_name(transformer, named) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"size": rng.uniform(1, 9, 50), "kind": rng.choice(["a", "b"], 50).astype(object)})
    with pytest.raises(Unsupported, match=named):
        compile_columns(transformer.fit(frame))


def _fitted(algorithm: Algorithm) -> Pipeline:
    frame, species = _penguins(300)
    return make_pipeline(algorithm, seed=0).fit(frame, species)


def test_a_forest_pipeline_runs_compiled_end_to_end() -> None:
    pipeline, schema = _fitted(Algorithm.random_forest), _schema()
    fast = fast_path("rf", pipeline, schema)
    assert fast is not None and fast.compiled_preprocessing and fast.compiled_trees
    rows, _ = _penguins(80, seed=7)
    values = {name: [None if pd.isna(v) else v for v in rows[name]] for name in schema.names}
    got = fast.predict_proba(schema.arrays(values))
    assert np.array_equal(got.argmax(axis=1), pipeline.predict_proba(schema.frame(values)).argmax(axis=1))
    assert np.allclose(got, pipeline.predict_proba(schema.frame(values)), rtol=0, atol=1e-12)


def test_other_classifiers_get_compiled_preprocessing_and_their_own_predict_proba() -> None:
    fast = fast_path("lr", _fitted(Algorithm.logistic_regression), _schema())
    assert fast is not None and fast.compiled_preprocessing and not fast.compiled_trees


def test_each_half_can_be_turned_off() -> None:
    pipeline, schema = _fitted(Algorithm.random_forest), _schema()
    trees_only = fast_path("rf", pipeline, schema, preprocessing=False)
    assert trees_only is not None and trees_only.compiled_trees and not trees_only.compiled_preprocessing
    preprocessing_only = fast_path("rf", pipeline, schema, trees=False)
    assert preprocessing_only is not None and preprocessing_only.compiled_preprocessing
    assert not preprocessing_only.compiled_trees
    assert fast_path("rf", pipeline, schema, trees=False, preprocessing=False) is None


def test_a_disagreeing_compiled_step_falls_back(monkeypatch, caplog) -> None:
    import mlkube_server.preprocess as preprocess

    honest = preprocess._scaler

    def biased(scaler):
        step = honest(scaler)
        return lambda X: step(X) + 0.5

    monkeypatch.setattr(preprocess, "_scaler", biased)
    caplog.set_level(logging.INFO, logger="mlkube_server.loader")
    fast = fast_path("rf", _fitted(Algorithm.random_forest), _schema())
    # both compiled-preprocessing candidates disagree; the forest behind scikit-learn's preprocessing remains
    assert fast is not None and fast.compiled_trees and not fast.compiled_preprocessing
    assert "disagrees with scikit-learn" in caplog.text


def test_a_disagreeing_forest_leaves_scikit_learn(monkeypatch) -> None:
    honest = CompiledForest.predict_proba
    monkeypatch.setattr(CompiledForest, "predict_proba", lambda self, X: honest(self, X) + 1e-9)
    fast = fast_path("rf", _fitted(Algorithm.random_forest), _schema(), preprocessing=False)
    assert fast is None
