"""mlkube model server: MLflow models over the seed API, KServe V1, Open Inference V2 and MLflow scoring."""

__version__ = "0.1.0"
