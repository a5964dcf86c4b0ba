"""The KServe V1 and Open Inference Protocol V2 bodies as pydantic models (the shapes of KServe's
``protocol/infer_type.py`` / ``rest/v2_datamodels.py`` and MLServer's ``types/dataplane.py``).

They validate the envelope: which fields, their types, non-empty lists, known datatypes and output names.
Tensor ``data`` stays the raw JSON list (``Any``), as KServe's ``data: List`` does: its length against the shape
is checked by v2_tensors.py, its values by the model's signature (schema.py), each in one pass and naming the
value at fault. Typing every value here as well made parsing a 100-row batch three times slower.
Fields that the protocols do not define are ignored, as KServe and MLServer ignore them.

``validated`` turns pydantic's errors into the project's 422 (``errors.invalid_input``): each field's location
under ``body`` and pydantic's reason, never the value that was sent."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import FieldError, invalid_input

NUMERIC = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}  # fmt: skip
Datatype = Literal[
    "BYTES", "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32", "FP64"
]  # fmt: skip
OutputName = Literal["predict", "predict_proba"]

# strict: a shape of [1.0] or ["2"], an id of 5 or a flag of "yes" is refused, not converted.
ENVELOPE = ConfigDict(strict=True, extra="ignore")
# Protocol parameters are open (KServe's content_type, headers, ...): the ones this server reads are typed.
PARAMETERS = ConfigDict(strict=True, extra="allow")


class InputParameters(BaseModel):
    model_config = PARAMETERS

    binary_data_size: Annotated[int, Field(ge=0)] | None = Field(
        None, description="the tensor's bytes follow the JSON (binary tensor data extension)"
    )


class RequestInput(BaseModel):
    model_config = ENVELOPE

    name: str
    shape: list[Annotated[int, Field(ge=0)]] = Field(min_length=1)
    datatype: Datatype
    parameters: InputParameters | None = None
    data: Any = Field(None, description="flat or nested, row-major; absent when parameters.binary_data_size is given")


class OutputParameters(BaseModel):
    model_config = PARAMETERS

    binary_data: bool | None = Field(None, description="this output as raw bytes after the JSON")


class RequestOutput(BaseModel):
    model_config = ENVELOPE

    name: OutputName
    parameters: OutputParameters | None = None

    @model_validator(mode="before")
    @classmethod
    def _unnamed(cls, value: Any) -> Any:
        # A bare item (["predict"]) is an output without a name: the error names the field the client forgot.
        return value if isinstance(value, dict | RequestOutput) else {}


class RequestParameters(BaseModel):
    model_config = PARAMETERS

    binary_data_output: bool | None = Field(None, description="every output as raw bytes after the JSON")


class InferenceRequest(BaseModel):
    """POST /v2/models/{name}/infer."""

    model_config = ENVELOPE

    id: str | None = None
    parameters: RequestParameters | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = Field(None, description="the outputs to answer; absent: every output")


def _documented_as_absent(schema: dict[str, Any]) -> None:
    """An optional field is documented by what it holds when present; null is taken as absent, not offered."""
    (present,) = [choice for choice in schema.pop("anyOf") if choice.get("type") != "null"]
    schema.update(present)


class ResponseOutput(BaseModel):
    model_config = ENVELOPE

    name: OutputName
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = Field(None, description="binary_data_size when the data follows the JSON")
    data: list[Any] | None = Field(
        None, description="row-major; absent when sent as binary", json_schema_extra=_documented_as_absent
    )


class InferenceResponse(BaseModel):
    """The answer of POST /v2/models/{name}/infer (built as a plain dict; tests hold real answers to this model)."""

    model_config = ENVELOPE

    model_name: str
    model_version: str
    id: str
    parameters: dict[str, Any]
    outputs: list[ResponseOutput]


class V1Request(BaseModel):
    """POST /v1/models/{name}:predict: rows (objects, or lists in signature order) or nested image arrays, under
    ``instances`` or, as KServe also takes them, ``inputs``."""

    model_config = ENVELOPE

    instances: list[Any] | None = Field(None, min_length=1, json_schema_extra=_documented_as_absent)
    inputs: list[Any] | None = Field(None, min_length=1, json_schema_extra=_documented_as_absent)


Body = TypeVar("Body", bound=BaseModel)


def validated(model: type[Body], payload: dict[str, Any]) -> Body:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise invalid_input([FieldError(("body", *error["loc"]), error["msg"]) for error in errors]) from None
