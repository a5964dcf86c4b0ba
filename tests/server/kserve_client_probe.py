"""Runs inside the KServe SDK's virtualenv: the SDK's REST client, unchanged, against a V2 server.

Usage: python kserve_client_probe.py BASE_URL MODEL; prints one JSON object with what the client saw.
"""

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

COLUMNS = {
    "island": ("BYTES", ["Biscoe", "Biscoe"]),
    "bill_length_mm": ("FP64", [39.1, 47.5]),
    "bill_depth_mm": ("FP64", [18.7, 14.2]),
    "flipper_length_mm": ("FP64", [181.0, 215.0]),
    "body_mass_g": ("FP64", [3750.0, 5300.0]),
    "sex": ("BYTES", ["male", "female"]),
}


def request(model: str, binary: bool) -> InferRequest:
    inputs = []
    for name, (datatype, values) in COLUMNS.items():
        tensor = InferInput(name=name, shape=[len(values)], datatype=datatype)
        array = np.array(values, dtype=object if datatype == "BYTES" else np.float64)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return InferRequest(model_name=model, infer_inputs=inputs, request_id="probe-1")


async def main(base_url: str, model: str) -> dict:
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    out: dict = {
        "live": await client.is_server_live(base_url),
        "ready": await client.is_server_ready(base_url),
        "model_ready": await client.is_model_ready(base_url, model),
    }
    for binary in (False, True):
        response = await client.infer(base_url, request(model, binary), model_name=model)
        outputs = {o.name: o.as_numpy().tolist() for o in response.outputs}
        out["binary" if binary else "json"] = {
            "model_name": response.model_name,
            "id": response.id,
            "predict": [v.decode() if isinstance(v, bytes) else v for v in outputs["predict"]],
            "proba_shape": list(np.asarray(outputs["predict_proba"]).shape),
        }
    try:
        await client.infer(base_url, request("no-such-model", False), model_name="no-such-model")
        out["unknown_model_error"] = None
    except Exception as exc:  # the SDK raises httpx.HTTPStatusError carrying the server's message
        out["unknown_model_error"] = str(exc)
    await client.close()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
