"""Runs inside the KServe SDK's virtualenv: the SDK's REST client, unchanged, against a V2 server.

Usage: python kserve_client_probe.py BASE_URL MODEL; prints one JSON object with what the client saw.
"""

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

COLUMNS = {
    "island": ("BYTES", ["Biscoe", "Biscoe"]),
    "bill_length_mm": ("FP64", [39.1, 47.5]),
    "bill_depth_mm": ("FP64", [18.7, 14.2]),
    "flipper_length_mm": ("FP64", [181.0, 215.0]),
    "body_mass_g": ("FP64", [3750.0, 5300.0]),
    "sex": ("BYTES", ["male", "female"]),
}


def request(model: str, binary: bool, binary_outputs: bool = False) -> InferRequest:
    inputs = []
    for name, (datatype, values) in COLUMNS.items():
        tensor = InferInput(name=name, shape=[len(values)], datatype=datatype)
        array = np.array(values, dtype=object if datatype == "BYTES" else np.float64)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    outputs = [RequestedOutput(name, {"binary_data": True}) for name in ("predict", "predict_proba")]
    return InferRequest(
        model_name=model, infer_inputs=inputs, request_id="probe-1", request_outputs=outputs if binary_outputs else None
    )


async def main(base_url: str, model: str) -> dict:
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    out: dict = {
        "live": await client.is_server_live(base_url),
        "ready": await client.is_server_ready(base_url),
        "model_ready": await client.is_model_ready(base_url, model),
    }
    for mode, binary, binary_outputs in (("json", False, False), ("binary", True, False), ("binary_out", True, True)):
        response = await client.infer(base_url, request(model, binary, binary_outputs), model_name=model)
        outputs = {o.name: o.as_numpy().tolist() for o in response.outputs}
        out[mode] = {
            "model_name": response.model_name,
            "id": response.id,
            "predict": [v.decode() if isinstance(v, bytes) else v for v in outputs["predict"]],
            "proba_shape": list(np.asarray(outputs["predict_proba"]).shape),
            "proba": np.asarray(outputs["predict_proba"], dtype=float).ravel().tolist(),
        }
    try:
        await client.infer(base_url, request("no-such-model", False), model_name="no-such-model")
        out["unknown_model_error"] = None
    except Exception as exc:  # the SDK raises httpx.HTTPStatusError carrying the server's message
        out["unknown_model_error"] = str(exc)
    await client.close()
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", timeout=30))
    out["v1_live"] = await v1.is_server_live(base_url)  # GET / must answer {"status": "alive"}
    row = {name: values[0] for name, (_, values) in COLUMNS.items()}
    answer = await v1.infer(base_url, {"instances": [row]}, model_name=model)
    out["v1_predictions"] = (answer if isinstance(answer, dict) else answer.to_rest())["predictions"]
    await v1.close()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
