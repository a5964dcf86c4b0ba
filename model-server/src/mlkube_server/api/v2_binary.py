"""The binary tensor data extension of the Open Inference Protocol (as KServe's and Triton's clients speak it):
outputs asked for as binary leave the JSON and follow it as raw little-endian bytes, the JSON's length in the
``Inference-Header-Content-Length`` header. BYTES elements are each a 4-byte length and the UTF-8 bytes."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
from fastapi import Response

from .bodies import InferenceRequest

HEADER = "inference-header-content-length"
MEDIA_TYPE = "application/octet-stream"
LITTLE_ENDIAN = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4", "BOOL": "?"}


def binary_outputs(request: InferenceRequest, names: list[str]) -> set[str]:
    """The outputs to send as binary: each one whose ``parameters.binary_data`` is true, or every output
    when the request's ``parameters.binary_data_output`` is true."""
    if request.parameters is not None and request.parameters.binary_data_output:
        return set(names)
    return {
        output.name
        for output in request.outputs or ()
        if output.parameters is not None and output.parameters.binary_data
    }


def response(body: dict[str, Any], binary: set[str]) -> Response:
    chunks = []
    for output in body["outputs"]:
        if output["name"] not in binary:
            continue
        chunk = tensor_bytes(output["datatype"], output.pop("data"))
        output["parameters"] = {**output.get("parameters", {}), "binary_data_size": len(chunk)}
        chunks.append(chunk)
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(header + b"".join(chunks), media_type=MEDIA_TYPE, headers={HEADER: str(len(header))})


def tensor_bytes(datatype: str, data: Any) -> bytes:
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in data]
        return b"".join(struct.pack("<I", len(value)) + value for value in encoded)
    return np.asarray(data, dtype=LITTLE_ENDIAN[datatype]).tobytes()
