"""The one prediction path every protocol goes through: pick the model, validate, batch, count.

Plain Python values in and out, the project's own errors (``errors.ApiError``) raised: no HTTP here (as KServe's
``protocol/dataplane.py``). The routers in ``api/`` decode their protocol's body, call the data plane, and encode
its ``Prediction``; ``tests/server/test_structure.py`` keeps FastAPI and Starlette out of this side."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from .context import AppState, RequestInfo
from .errors import ApiError, bad_request, overloaded, too_large
from .models import ImageModel, ServedModel, TabularModel

# A PNG of a few KB can declare a huge canvas; decoding it would take that much memory (the model wants 8x8).
MAX_IMAGE_PIXELS = 4096 * 4096


@dataclass
class Prediction:
    model: ServedModel
    probabilities: np.ndarray  # (rows, classes)

    @property
    def labels(self) -> list[str]:
        classes = self.model.classes
        return [classes[i] for i in self.probabilities.argmax(axis=1).tolist()]

    @property
    def confidences(self) -> list[float]:
        return [round(float(p), 6) for p in self.probabilities.max(axis=1)]

    def identity(self) -> dict[str, Any]:
        ident = self.model.identity
        return {"model": ident.name, "version": ident.version, "alias": ident.alias}


class DataPlane:
    """Model selection, row limits, load shedding, batching and the prediction metrics, for one app."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def select_model(self, call: RequestInfo, name: str | None) -> ServedModel:
        """The named (or default) model, recorded on the call for metrics and the X-Model-Version header."""
        repository = self.state.repository
        entry = repository.entry(name)
        call.model = entry.name
        model, _ = repository.get(entry.name)
        call.version = model.version
        return model

    def check_rows(self, count: int, loc: tuple[str | int, ...]) -> None:
        if count == 0:
            raise bad_request("no rows to predict: the list is empty", loc)
        limit = self.state.settings.max_batch_rows
        if count > limit:
            raise too_large(f"{count} rows exceed the limit of {limit} rows per request", loc)

    async def predict_rows(
        self, call: RequestInfo, model: ServedModel, rows: Any, loc: tuple[str | int, ...], single: bool = False
    ) -> Prediction:
        """``single``: the body was one row (seed /predict), so error paths name its fields directly."""
        model = tabular(model, loc)
        if isinstance(rows, list):
            self.check_rows(len(rows), loc)
        values = model.schema.validate_rows(rows, loc, indexed=not single)
        return await self._run(call, model, values)

    async def predict_columns(
        self, call: RequestInfo, model: ServedModel, columns: dict[str, list[Any]], loc: tuple[str | int, ...]
    ) -> Prediction:
        model = tabular(model, loc)
        first = next(iter(columns.values()), [])
        self.check_rows(len(first) if isinstance(first, list) else 0, loc)
        values = model.schema.validate_columns(columns, loc)
        return await self._run(call, model, values)

    async def predict_tensor(
        self, call: RequestInfo, model: ServedModel, array: np.ndarray, loc: tuple[str | int, ...]
    ) -> Prediction:
        if not isinstance(model, ImageModel):
            raise bad_request(f"model {model.name!r} takes table rows, not a tensor", loc)
        expected = model.image.shape
        if array.ndim == len(expected):
            array = array[np.newaxis]
        if tuple(array.shape[1:]) != tuple(expected):
            shape = ", ".join(map(str, expected))
            raise bad_request(f"tensor shape {list(array.shape)} does not match [-1, {shape}]", loc)
        if not np.isfinite(array).all():
            raise bad_request("tensor holds NaN or infinite values", loc)
        self.check_rows(int(array.shape[0]), loc)
        return await self._run(call, model, array.astype(np.float32, copy=False))

    async def _run(self, call: RequestInfo, model: ServedModel, part: Any) -> Prediction:
        state = self.state
        call.arrived(state.gate)
        if not state.queues.enter(model.name):
            # Load shedding: answered now rather than after the requests ahead of it; readiness is untouched.
            state.metrics.request_shed(model.name)
            raise overloaded(model.name, state.queues.limit, state.settings.shed_retry_after_seconds)
        gauge = state.metrics.inflight.labels(model.name, state.metrics.variant)
        gauge.inc()
        try:
            probabilities = await state.repository.predict(model, part)
        finally:
            gauge.dec()
            state.queues.leave(model.name)
        state.metrics.observe_predictions(model.name, model.version, model.classes, probabilities)
        if state.shadow is not None:
            state.shadow.offer(model, part, probabilities)
        return Prediction(model, probabilities)


def tabular(model: ServedModel, loc: tuple[str | int, ...]) -> TabularModel:
    if not isinstance(model, TabularModel):
        raise bad_request(
            f"model {model.name!r} takes images, not rows: use POST /predict/image or a V2 FP32 tensor", loc
        )
    return model


def decode_image(model: ServedModel, content: bytes) -> np.ndarray:
    """A PNG/JPEG upload -> one normalised sample shaped like the network's input."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(model, ImageModel):
        raise bad_request(f"model {model.name!r} does not take images", ("query", "model"))
    if not content:
        raise bad_request("the uploaded file is empty", ("body", "file"))
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.format not in ("PNG", "JPEG"):
                raise bad_request(f"unsupported image format {image.format}; send PNG or JPEG", ("body", "file"))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                size = f"{image.width}x{image.height}"
                raise too_large(f"a {size} image exceeds the limit of {MAX_IMAGE_PIXELS} pixels", ("body", "file"))
            spec = model.image
            gray = image.convert("L").resize((spec.width, spec.height))
            pixels = np.asarray(gray, dtype=np.float32) / 255.0
            if pixels.mean() > 0.5:  # dark ink on a light background: the network expects ink as high values
                pixels = 1.0 - pixels
    except ApiError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise bad_request("the uploaded file is not a readable PNG or JPEG image", ("body", "file")) from None
    pixels = (pixels * spec.pixel_max - spec.mean) / spec.std
    return pixels.reshape((1, *spec.shape)).astype(np.float32)
