"""mlkube training jobs: penguins (scikit-learn) and digits (PyTorch), tracked and registered in MLflow."""

__version__ = "0.1.0"
