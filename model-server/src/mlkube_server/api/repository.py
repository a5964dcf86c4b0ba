"""The Open Inference Protocol's model repository extension: index, load, unload.

Off unless the server has a repository API token; then every call needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..auth import check_bearer
from ..errors import bad_request
from ..jsonio import FastJSONResponse, parse_json, require_json, require_object
from .calls import app_state, request_info
from .docs import body_doc

_bearer = HTTPBearer(auto_error=False, description="the server's repository_api_token")


def _authorised(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    check_bearer(credentials.credentials if credentials else None, app_state(request).settings.repository_api_token)


PROTOCOL = "v2"
router = APIRouter(
    prefix="/v2/repository", tags=["Open Inference Protocol V2: model repository"], dependencies=[Depends(_authorised)]
)


@router.post("/index", summary="Every model the repository knows, with its state")
async def repository_index(request: Request) -> FastJSONResponse:
    entries = app_state(request).repository.entries.values()
    return FastJSONResponse([entry.summary() for entry in entries])


async def _requested_uri(request: Request) -> str | None:
    raw = await request.body()
    if not raw.strip():
        return None
    require_json(request)
    params = require_object(parse_json(raw), "{'parameters': {'uri': ...}}").get("parameters")
    if params is None:
        return None
    if not isinstance(params, dict):
        raise bad_request("expected an object such as {'uri': 'models:/name@alias'}", ("body", "parameters"))
    uri = params.get("uri")
    if uri is not None and (not isinstance(uri, str) or not uri.strip()):
        raise bad_request("must be a model URI string", ("body", "parameters", "uri"))
    return uri.strip() if uri else None


@router.post(
    "/models/{name}/load",
    summary="Load (or reload) a model; body {'parameters': {'uri': 'models:/name@alias'}} adds a new one or "
    "changes its URI. The new version takes the traffic only once it is loaded; a failed load changes nothing",
    openapi_extra=body_doc(
        {
            "type": "object",
            "properties": {
                "parameters": {
                    "anyOf": [
                        {
                            "type": "object",
                            "properties": {"uri": {"anyOf": [{"type": "string", "pattern": r"\S"}, {"type": "null"}]}},
                        },
                        {"type": "null"},
                    ]
                }
            },
        },
        {"parameters": {"uri": "models:/penguins-random-forest@champion"}},
        required=False,  # no body: reload from the URI the model has
    ),
)
async def repository_load(request: Request, name: str) -> FastJSONResponse:
    uri = await _requested_uri(request)
    repository = app_state(request).repository
    info = request_info(request)
    if name in repository.entries:  # a name loaded for the first time gets metric labels only once it serves
        info.model = name
    model = await repository.load(name, uri)
    info.model, info.version = name, model.version
    return FastJSONResponse({"name": name, "load": True, "version": model.version, "state": "ready"})


@router.post("/models/{name}/unload", summary="Unload a model (readiness then ignores it)")
async def repository_unload(request: Request, name: str) -> FastJSONResponse:
    request_info(request).model = name if name in app_state(request).repository.entries else ""
    entry = await app_state(request).repository.unload(name)
    return FastJSONResponse({"name": name, "unload": True, "state": entry.state.value})
