"""The digits network: a small CNN for scikit-learn's 8x8 digit images.

Input: float32 tensor of shape (N, 1, 8, 8) holding raw ``load_digits`` intensities 0..16 (the network scales
them itself). Output: float32 logits of shape (N, 10), one per digit 0-9.
"""

from __future__ import annotations

import torch
from torch import nn

PIXEL_MAX = 16.0
INPUT_SHAPE = (1, 8, 8)
NUM_CLASSES = 10


class DigitsCNN(nn.Module):
    def __init__(self, channels: int = 16, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * channels * 4 * 4, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *INPUT_SHAPE) / PIXEL_MAX
        return self.classifier(self.features(x))
