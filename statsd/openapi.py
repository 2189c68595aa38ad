"""The OpenAPI 3 document of statsd, written from the route table.

Why: tools (Swagger UI, Postman, client generators) read an OpenAPI document
instead of the README.  Every route of :data:`statsd.api.ROUTES` declares
its methods, parameters, request body and answers once; :func:`document`
only renders them, building fresh objects for each operation, so that no two
operations share (and overwrite) one description, and no table here can
drift from the routes.  This module holds the vocabulary the declarations
use (:class:`Param`, :class:`Reply`, the shared schemas).
"""

from __future__ import annotations

import copy
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

from . import __version__

Schema = Dict[str, Any]

NUMBER_MAP: Schema = {"type": "object", "additionalProperties": {"type": "number"}}
JOB_ID: Schema = {"type": "string", "pattern": "^job_id_[1-9][0-9]*$", "example": "job_id_1"}
ERROR: Schema = {
    "type": "object", "required": ["status", "reason"],
    "properties": {"status": {"type": "string", "enum": ["error"]},
                   "reason": {"type": "string", "description": "what was wrong, for a person"}},
}
ERROR_REF: Schema = {"$ref": "#/components/schemas/Error"}

#: The ``data`` of the statistics whose result is not ``{location: number}``.
_RESULT_SCHEMAS: Dict[str, Schema] = {
    "global_mean": {"type": "object", "properties": {"global_mean": {"type": "number"}}},
    "mean_by_category": dict(NUMBER_MAP, description="keys: \"('<location>', '<category>', "
                                                     "'<stratification>')\""),
    "state_mean_by_category": {"type": "object", "additionalProperties": dict(
        NUMBER_MAP, description="keys: \"('<category>', '<stratification>')\"")},
}


class Param(NamedTuple):
    """A parameter of a route: in the query (the default) or the path's ``{name}``."""

    name: str
    description: str
    schema: Schema = {"type": "string"}
    where: str = "query"
    required: bool = False
    repeatable: bool = False


class Reply(NamedTuple):
    """One documented answer of a route; ``also``: other media types it may come as;
    ``content_type`` "": no body."""

    description: str
    schema: Optional[Schema] = None
    content_type: str = "application/json"
    also: Tuple[Tuple[str, Schema], ...] = ()


def listing(data: Schema) -> Schema:
    """``{"status": "done", "data": ...}``, the shape of the list endpoints."""
    return {"type": "object", "required": ["status", "data"],
            "properties": {"status": {"type": "string", "enum": ["done"]}, "data": data}}


def result_schema(statistic: str) -> Schema:
    """The schema of the ``data`` a statistic's job gives."""
    return copy.deepcopy(_RESULT_SCHEMAS.get(statistic, NUMBER_MAP))


def document(routes: Sequence[Any]) -> Dict[str, Any]:
    """The OpenAPI 3.0 document of ``routes`` (:class:`statsd.api.Route` values)."""
    paths: Dict[str, Any] = {}
    for route in routes:
        paths[route.path] = {method.lower(): _operation(route, method) for method in route.methods}
    return {
        "openapi": "3.0.3",
        "info": {"title": "statsd", "version": __version__,
                 "description": "Statistics of the BRFSS nutrition, physical activity and "
                                "obesity data over an asynchronous JSON job API: POST a "
                                "statistic, get a job id, poll /api/get_results/{job_id}. "
                                "Query parameters whose name starts with '_' are ignored; "
                                "any other unknown one is a 400."},
        "paths": paths,
        "components": {"schemas": {
            "Error": copy.deepcopy(ERROR),
            "Result": {"description": "the data of a statistic; see each POST endpoint's x-result",
                       "oneOf": [copy.deepcopy(NUMBER_MAP),
                                 *(copy.deepcopy(schema) for schema in _RESULT_SCHEMAS.values())]},
        }},
    }


def _operation(route: Any, method: str) -> Dict[str, Any]:
    operation: Dict[str, Any] = {
        "summary": route.summary,
        "operationId": f"{method.lower()}_{_identifier(route.path)}",
        "responses": {status: _reply(reply) for status, reply in route.responses.items()},
    }
    parameters = [_parameter(parameter) for parameter in route.parameters]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None and method == "POST":
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": copy.deepcopy(route.body)}}}
    operation["responses"].setdefault("405", _reply(Reply("method not allowed", ERROR_REF)))
    return operation


def _reply(reply: Reply) -> Dict[str, Any]:
    content: Dict[str, Any] = {}
    if reply.schema is not None:
        content["schema"] = copy.deepcopy(reply.schema)
    if not reply.content_type:  # an answer without a body (304)
        return {"description": reply.description}
    contents = {reply.content_type: content}
    for content_type, schema in reply.also:
        contents[content_type] = {"schema": copy.deepcopy(schema)}
    return {"description": reply.description, "content": contents}


def _parameter(parameter: Param) -> Dict[str, Any]:
    result = {"name": parameter.name, "in": parameter.where,
              "required": parameter.required or parameter.where == "path",
              "schema": copy.deepcopy(parameter.schema), "description": parameter.description}
    if parameter.repeatable:
        result["explode"] = True
        result["schema"] = {"type": "array", "items": result["schema"]}
    return result


def _identifier(template: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in template).split()
    return "_".join(words) or "root"

