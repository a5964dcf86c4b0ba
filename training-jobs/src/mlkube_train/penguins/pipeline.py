"""The one scikit-learn Pipeline that goes from raw penguin columns to a species."""

from __future__ import annotations

from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from mlkube_models.penguins_features import NUMERIC_FEATURES, add_engineered_features, engineered_feature_names

from ..errors import ConfigError
from ..settings import Algorithm
from .data import CATEGORICAL_FEATURES

CLASSIFIER_STEP = "classifier"

# Types beyond skops' defaults that the logged Pipelines contain; the model is saved in skops format
# (no arbitrary code at load time) and MLflow hands this allow-list to skops when loading.
SKOPS_TRUSTED_TYPES = (
    "mlkube_models.penguins_features.add_engineered_features",
    "mlkube_models.penguins_features.engineered_feature_names",
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)

REGISTERED_MODEL_NAMES: dict[Algorithm, str] = {
    Algorithm.logistic_regression: "penguins-logistic-regression",
    Algorithm.random_forest: "penguins-random-forest",
    Algorithm.svm: "penguins-svm",
}


def make_estimator(algorithm: Algorithm, seed: int) -> ClassifierMixin:
    """The estimator whose parameters the config grid names."""
    if algorithm is Algorithm.logistic_regression:
        return LogisticRegression(max_iter=5000, random_state=seed)
    if algorithm is Algorithm.random_forest:
        return RandomForestClassifier(random_state=seed, n_jobs=1)
    return SVC(random_state=seed)


def make_classifier(algorithm: Algorithm, seed: int) -> ClassifierMixin:
    """The Pipeline's last step. SVC gets probabilities from a calibrator (SVC(probability=True) is deprecated)."""
    estimator = make_estimator(algorithm, seed)
    if algorithm is Algorithm.svm:
        return CalibratedClassifierCV(estimator, ensemble=False, cv=3)
    return estimator


def _grid_prefix(algorithm: Algorithm) -> str:
    return f"{CLASSIFIER_STEP}__estimator__" if algorithm is Algorithm.svm else f"{CLASSIFIER_STEP}__"


def make_pipeline(algorithm: Algorithm, seed: int) -> Pipeline:
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            (
                "engineer",
                FunctionTransformer(add_engineered_features, feature_names_out=engineered_feature_names),
            ),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    preprocess = ColumnTransformer(
        [("numeric", numeric, list(NUMERIC_FEATURES)), ("categorical", categorical, list(CATEGORICAL_FEATURES))]
    )
    return Pipeline([("preprocess", preprocess), (CLASSIFIER_STEP, make_classifier(algorithm, seed))])


def param_grid(algorithm: Algorithm, grid: dict[str, list[Any]], seed: int) -> dict[str, list[Any]]:
    """The GridSearchCV grid for the Pipeline; ConfigError for a parameter the classifier lacks."""
    estimator = make_estimator(algorithm, seed)
    known = estimator.get_params()
    for name, values in grid.items():
        if name not in known:
            raise ConfigError(
                f"invalid setting grids.{algorithm.value}.{name} = {values!r}: "
                f"{type(estimator).__name__} has no parameter {name!r}"
            )
    prefix = _grid_prefix(algorithm)
    return {f"{prefix}{name}": list(values) for name, values in grid.items()}


def grid_param_name(algorithm: Algorithm, key: str) -> str:
    """Config name of a GridSearchCV key (classifier__estimator__C -> C)."""
    return key.removeprefix(_grid_prefix(algorithm))
