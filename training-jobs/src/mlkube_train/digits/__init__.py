"""Handwritten digits (scikit-learn's bundled 8x8 images), a small PyTorch CNN."""
