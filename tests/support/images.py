"""Images a user would upload to `/predict/image`."""

from __future__ import annotations

import io


def digit_png(digit: int = 7) -> bytes:
    """The first image of ``digit`` in scikit-learn's digits as an 8x8 PNG, dark ink on white (the upload path
    inverts it and scales it back to the trainer's 0..16 intensities)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.images[int(np.flatnonzero(digits.target == digit)[0])]
    buffer = io.BytesIO()
    Image.fromarray((255 - pixels * 255 / 16).astype("uint8"), "L").save(buffer, "PNG")
    return buffer.getvalue()
