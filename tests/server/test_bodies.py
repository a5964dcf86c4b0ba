"""The V1/V2 body models (api/bodies.py) and the V2 tensor decoding, without a server: what each refuses, where
the 422 says the fault is, and that the envelope leaves the tensor data as the client sent it."""

from __future__ import annotations

from typing import get_args

import pytest

from mlkube_server.api.bodies import NUMERIC, Datatype, InferenceRequest, V1Request, validated
from mlkube_server.api.v2_tensors import decode_request
from mlkube_server.errors import ApiError

COLUMN = {"name": "bill_length_mm", "shape": [2], "datatype": "FP64", "data": [39.1, 46.5]}


def _refused(body: dict, model: type = InferenceRequest) -> list[list]:
    with pytest.raises(ApiError) as caught:
        validated(model, body)
    assert caught.value.status == 422
    assert caught.value.message.startswith("invalid input at body")
    return [detail.as_dict()["loc"] for detail in caught.value.details]


def test_every_datatype_has_its_numpy_type():
    assert set(get_args(Datatype)) == {"BYTES", *NUMERIC}


def test_a_valid_request_keeps_its_data_as_sent():
    nested = [[1.0, 2.0], [3.0, 4.0]]
    request = validated(
        InferenceRequest,
        {"id": "r1", "inputs": [{**COLUMN, "shape": [2, 2], "data": nested}], "outputs": [{"name": "predict"}]},
    )
    assert request.inputs[0].data is nested and request.id == "r1"
    assert [output.name for output in request.outputs or ()] == ["predict"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"inputs": []}, ["body", "inputs"]),
        ({"inputs": "x"}, ["body", "inputs"]),
        ({"inputs": [5]}, ["body", "inputs", 0]),
        ({"inputs": [{**COLUMN, "name": 3}]}, ["body", "inputs", 0, "name"]),
        ({"inputs": [{**COLUMN, "shape": [1.0]}]}, ["body", "inputs", 0, "shape", 0]),
        ({"inputs": [{**COLUMN, "shape": ["2"]}]}, ["body", "inputs", 0, "shape", 0]),
        ({"inputs": [{**COLUMN, "shape": [True]}]}, ["body", "inputs", 0, "shape", 0]),
        ({"inputs": [{**COLUMN, "shape": [-1]}]}, ["body", "inputs", 0, "shape", 0]),
        ({"inputs": [{**COLUMN, "shape": []}]}, ["body", "inputs", 0, "shape"]),
        ({"inputs": [{**COLUMN, "datatype": "FP99"}]}, ["body", "inputs", 0, "datatype"]),
        ({"inputs": [{**COLUMN, "parameters": {"binary_data_size": -1}}]},
         ["body", "inputs", 0, "parameters", "binary_data_size"]),
        ({"id": 5}, ["body", "id"]),
        ({"outputs": {"name": "predict"}}, ["body", "outputs"]),
        ({"outputs": ["predict"]}, ["body", "outputs", 0, "name"]),
        ({"outputs": [{"name": "logits"}]}, ["body", "outputs", 0, "name"]),
        ({"outputs": [{"name": "predict", "parameters": {"binary_data": "yes"}}]},
         ["body", "outputs", 0, "parameters", "binary_data"]),
        ({"parameters": {"binary_data_output": 1}}, ["body", "parameters", "binary_data_output"]),
    ],
)  # fmt: skip
def test_each_fault_is_named_where_it_is(change, loc):
    assert loc in _refused({"inputs": [COLUMN], **change})


def test_every_fault_of_a_request_is_listed():
    locs = _refused({"id": 1, "inputs": [{"name": "x"}], "outputs": [{"name": "logits"}]})
    assert locs == [
        ["body", "id"],
        ["body", "inputs", 0, "shape"],
        ["body", "inputs", 0, "datatype"],
        ["body", "outputs", 0, "name"],
    ]


def test_fields_outside_the_protocol_are_ignored_and_parameters_kept():
    request = validated(
        InferenceRequest, {"inputs": [COLUMN], "note": 1, "parameters": {"content_type": "pd", "headers": {}}}
    )
    assert request.parameters is not None and request.parameters.model_extra == {"content_type": "pd", "headers": {}}


def test_tensors_are_counted_against_their_shape():
    _, tensors = decode_request({"inputs": [{**COLUMN, "shape": [2, 1], "data": [[39.1], [46.5]]}]}, b"")
    assert tensors[0].data == [39.1, 46.5] and tensors[0].shape == [2, 1]
    for tensor, loc in (
        ({**COLUMN, "shape": [3]}, ["body", "inputs", 0, "data"]),
        ({k: v for k, v in COLUMN.items() if k != "data"}, ["body", "inputs", 0, "data"]),
        ({**COLUMN, "parameters": {"binary_data_size": 16}}, ["body", "inputs", 0, "parameters", "binary_data_size"]),
    ):
        with pytest.raises(ApiError) as caught:
            decode_request({"inputs": [tensor]}, b"")
        assert [d.as_dict()["loc"] for d in caught.value.details] == [loc]


def test_v1_takes_instances_or_inputs():
    assert validated(V1Request, {"instances": [{"a": 1}], "note": 1}).instances == [{"a": 1}]
    assert validated(V1Request, {"inputs": [[1, 2]]}).inputs == [[1, 2]]
    assert _refused({"instances": []}, V1Request) == [["body", "instances"]]
    assert _refused({"instances": {"a": 1}}, V1Request) == [["body", "instances"]]
    assert _refused({"inputs": None, "instances": "x"}, V1Request) == [["body", "instances"]]
