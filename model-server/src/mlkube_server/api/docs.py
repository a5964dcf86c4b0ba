"""OpenAPI for bodies the handlers parse themselves, and the Features schema taken from the default model."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi


def body_doc(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": example}},
        }
    }


def install_openapi(app: FastAPI) -> None:
    """/docs shows the input columns of the default model's MLflow signature once it is loaded."""

    def openapi() -> dict[str, Any]:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        features: dict[str, Any] = {"type": "object", "description": "the input columns of the model"}
        state = getattr(app.state, "mlkube", None)
        if state is not None:
            for entry in state.repository.entries.values():
                model = entry.model
                if model is not None and model.kind == "tabular":
                    features = model.schema.json_schema()
                    features["description"] = f"input columns of {model.name} (MLflow signature)"
                    if entry.name == state.repository.default_name:
                        break
        schema.setdefault("components", {}).setdefault("schemas", {})["Features"] = features
        return schema  # not cached: the models (and so the schema) can change at run time

    app.openapi = openapi  # type: ignore[method-assign]
