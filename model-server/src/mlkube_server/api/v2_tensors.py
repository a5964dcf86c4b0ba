"""A V2 inference request's input tensors, decoded: the envelope validated by ``bodies.InferenceRequest``, then each
tensor's values read from its JSON ``data`` (flat or nested) or from the bytes after the JSON (the binary tensor
data extension) and counted against its shape. What the values must be is the model's business (its signature)."""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

import numpy as np

from ..errors import FieldError, invalid_input
from .bodies import NUMERIC, InferenceRequest, RequestInput, validated


class Tensor(NamedTuple):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]  # flat, row-major


def decode_request(payload: dict[str, Any], binary: bytes) -> tuple[InferenceRequest, list[Tensor]]:
    request = validated(InferenceRequest, payload)
    return request, decode_inputs(request.inputs, binary)


def decode_inputs(inputs: list[RequestInput], binary: bytes) -> list[Tensor]:
    decoded, errors, offset = [], [], 0
    for index, tensor in enumerate(inputs):
        loc = ("body", "inputs", index)
        size = math.prod(tensor.shape)
        length = tensor.parameters.binary_data_size if tensor.parameters is not None else None
        if length is not None:
            if offset + length > len(binary):
                errors.append(FieldError((*loc, "parameters", "binary_data_size"), "runs past the end of the body"))
                continue
            chunk = binary[offset : offset + length]
            offset += length
            try:
                data = _from_binary(chunk, tensor.datatype, size)
            except ValueError as exc:
                errors.append(FieldError(loc, str(exc)))
                continue
        elif tensor.data is None and "data" not in tensor.model_fields_set:
            errors.append(FieldError((*loc, "data"), "field required"))
            continue
        else:
            data = _flatten(tensor.data)
            if len(data) != size:
                errors.append(
                    FieldError((*loc, "data"), f"holds {len(data)} values but shape {tensor.shape} needs {size}")
                )
                continue
        decoded.append(Tensor(tensor.name, tensor.shape, tensor.datatype, data))
    if errors:
        raise invalid_input(errors)
    return decoded


def _flatten(data: Any) -> list[Any]:
    if type(data) is not list:
        return [data]
    if list not in map(type, data):  # a flat list, the usual case: one C-level pass (JSON lists are exact lists)
        return data
    # Iterative: nesting is the caller's choice, up to the JSON parser's depth limit.
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _from_binary(chunk: bytes, datatype: str, size: int) -> list[Any]:
    if datatype == "BYTES":
        values, position = [], 0
        while position < len(chunk):
            if position + 4 > len(chunk):
                raise ValueError("truncated BYTES element")
            (length,) = struct.unpack_from("<I", chunk, position)
            values.append(chunk[position + 4 : position + 4 + length].decode("utf-8", errors="replace"))
            position += 4 + length
    else:
        dtype = np.dtype(NUMERIC[datatype])
        if len(chunk) != size * dtype.itemsize:
            raise ValueError(f"binary data has {len(chunk)} bytes; {size} x {datatype} needs {size * dtype.itemsize}")
        values = np.frombuffer(chunk, dtype=dtype).tolist()
    if len(values) != size:
        raise ValueError(f"binary data holds {len(values)} values, shape needs {size}")
    return values
