"""The OpenAPI 3.1 document of the admin API. Rule: generated from the route table and the very pydantic
models the handlers validate with; nothing in it is written by hand but words."""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cbdialer import __version__
from cbdialer.adapters.http import models as m
from cbdialer.adapters.http.table import Route

_REF = "#/components/schemas/{model}"
_ERRORS = {
    "400": "The body is not JSON",
    "401": "No valid bearer token",
    "403": "The token's role may not do this",
    "404": "No such thing (or not one this token may see)",
    "405": "The path exists, the method does not",
    "409": "Not in a state that allows it, or exists already",
    "413": "The body is too large",
    "422": "A field is invalid: `field` names it",
}


def _models(routes: list[Route]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"ErrorOut": m.ErrorOut}
    for route in routes:
        for candidate in (route.body, route.response):
            model = get_args(candidate)[0] if get_origin(candidate) is list else candidate
            if isinstance(model, type) and issubclass(model, BaseModel):
                found[model.__name__] = model
    return list(found.values())


def _schema_of(candidate: Any) -> dict[str, Any]:
    if get_origin(candidate) is list:
        return {"type": "array", "items": {"$ref": _REF.format(model=get_args(candidate)[0].__name__)}}
    return {"$ref": _REF.format(model=candidate.__name__)}


def _query_parameters(model: type[BaseModel], defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF, by_alias=True)
    defs.update(schema.get("$defs", {}))
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop,
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema.get("properties", {}).items()]


def openapi_document(routes: list[Route], prefix: str) -> dict[str, Any]:
    models = _models(routes)
    _, top = models_json_schema([(model, "validation") for model in models], ref_template=_REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    bearer = [{"bearer": []}]
    error = {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{route.method.lower()}{route.path}").strip("_"),
            "tags": [route.tag],
            "security": [] if route.public else bearer,
            "responses": {},
        }
        parameters = [{"name": name, "in": "path", "required": True,
                       "schema": {"type": "string", **({"format": route.path_formats[name]}
                                                        if name in route.path_formats else {})}}
                      for name in re.findall(r"{(\w+)}", route.path)]
        parameters += [{"name": name, "in": "header", "required": False, "description": text,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200}}
                       for name, text in route.headers]
        if route.query is not None:
            parameters += _query_parameters(route.query, schemas)
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": _schema_of(route.body)}}}
        ok: dict[str, Any] = {"description": "OK"}
        if route.produces_wav:
            ok["content"] = {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": _schema_of(route.response)}}
            if route.produces_csv:
                ok["content"]["text/csv"] = {"schema": {"type": "string"}}
        operation["responses"][str(route.status)] = ok
        if route.status == 201 and route.headers:  # an idempotent retry returns the first result
            operation["responses"]["200"] = {"description": "Already created with this Idempotency-Key",
                                             "content": ok.get("content", {})}
        for code, text in _ERRORS.items():
            operation["responses"][code] = {"description": text, "content": error}
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = operation
    paths["/healthz"] = {"get": {
        "summary": "Health (no token)", "operationId": "healthz", "tags": ["health"], "security": [],
        "responses": {"200": {"description": "Healthy",
                              "content": {"application/json": {"schema": {"$ref": _REF.format(model="HealthOut")}}}},
                      "503": {"description": "Something is down: `down` names it (`database`, `ami`)",
                              "content": {"application/json": {"schema": {"$ref": _REF.format(model="HealthOut")}}}}},
    }}
    paths["/metrics"] = {"get": {
        "summary": "Prometheus metrics (no token)", "operationId": "metrics", "tags": ["health"], "security": [],
        "responses": {"200": {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}},
    }}
    health_schema = m.HealthOut.model_json_schema(ref_template=_REF)
    schemas["HealthOut"] = health_schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "cbdialer admin API", "version": __version__,
                 "description": "Schedule control for supervisors and agents, reports and metrics. Every route "
                                "under /api/v1 but this document needs `Authorization: Bearer <token>` (made with "
                                "`cbdialer token create`). Errors are JSON with the field at fault."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
