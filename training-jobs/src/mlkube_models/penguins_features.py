"""The seed's engineered penguin features, applied inside the logged scikit-learn Pipeline.

Input: the imputed numeric columns in NUMERIC_FEATURES order; output: those columns plus ENGINEERED_FEATURES.
"""

from __future__ import annotations

import numpy as np

NUMERIC_FEATURES = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
ENGINEERED_FEATURES = ("bill_ratio", "body_mass_kg", "mass_flipper_ratio")


def add_engineered_features(values):
    """Append bill_length/bill_depth, body_mass_g/1000 and body_mass_g/flipper_length."""
    x = np.asarray(values, dtype=np.float64)
    bill_length, bill_depth, flipper_length, body_mass = (x[:, i] for i in range(4))
    extra = np.column_stack([bill_length / bill_depth, body_mass / 1000.0, body_mass / flipper_length])
    return np.hstack([x, extra])


def engineered_feature_names(transformer, input_features):
    """``feature_names_out`` for the FunctionTransformer that wraps add_engineered_features."""
    names = list(input_features) if input_features is not None else list(NUMERIC_FEATURES)
    return np.asarray([*names, *ENGINEERED_FEATURES], dtype=object)
