"""The OpenAPI 3 document of statsd, generated from the route table.

Why: tools (Swagger UI, Postman, client generators) read an OpenAPI document
instead of the README.  It is built from ``server.ROUTES`` and
``server.PREFIX_ROUTES`` (paths, methods, summaries) and from
``stats.STATISTICS`` (the request body of each data endpoint), so a route
cannot be added or removed without the document following; what the table
does not say (parameters and response schemas) is in :data:`DOCS`, one entry
per path, and a test checks that every route has one.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from . import __version__
from .charts import CHARTS, chart_parameters
from .stats import STATISTICS

Schema = Dict[str, Any]

NUMBER_MAP: Schema = {"type": "object", "additionalProperties": {"type": "number"}}
JOB_ID: Schema = {"type": "string", "pattern": "^job_id_[1-9][0-9]*$", "example": "job_id_1"}
ERROR: Schema = {
    "type": "object", "required": ["status", "reason"],
    "properties": {"status": {"type": "string", "enum": ["error"]},
                   "reason": {"type": "string", "description": "what was wrong, for a person"}},
}
QUESTION_PARAMETER = {"name": "question", "in": "query", "schema": {"type": "string"},
                      "description": "exact question text, as listed by GET /api/questions"}
STATE_PARAMETER = {"name": "state", "in": "query", "schema": {"type": "string"},
                   "description": "a location, as listed by GET /api/states?question=..."}


def _ok(schema: Schema, description: str = "OK") -> Dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _listing(data: Schema) -> Schema:
    return {"type": "object", "required": ["status", "data"],
            "properties": {"status": {"type": "string", "enum": ["done"]}, "data": data}}


class Doc(NamedTuple):
    """What the route table does not say about a path."""

    responses: Dict[str, Any]
    parameters: Tuple[Dict[str, Any], ...] = ()
    path_parameter: Optional[Dict[str, Any]] = None  # for a prefix route


def _query(*parameters: Dict[str, Any], required: Tuple[str, ...] = ()) -> Tuple[Dict[str, Any], ...]:
    return tuple(dict(parameter, required=parameter["name"] in required) for parameter in parameters)


_RESULT_SCHEMAS: Dict[str, Schema] = {
    "global_mean": {"type": "object", "properties": {"global_mean": {"type": "number"}}},
    "mean_by_category": dict(NUMBER_MAP, description="keys: \"('<location>', '<category>', "
                                                     "'<stratification>')\""),
    "state_mean_by_category": {"type": "object", "additionalProperties": dict(
        NUMBER_MAP, description="keys: \"('<category>', '<stratification>')\"")},
}

#: Path (or prefix + parameter) -> its parameters and responses.
DOCS: Dict[str, Doc] = {
    "/api/get_results/": Doc(
        {"200": _ok({"oneOf": [
            {"type": "object", "properties": {"status": {"enum": ["running"]}}},
            {"type": "object", "properties": {"status": {"enum": ["done"]},
                                              "data": {"$ref": "#/components/schemas/Result"}}},
            {"$ref": "#/components/schemas/Error"}]},
            "the job's state: running (queued or computing), done with its data, or error"),
         "404": _error("Invalid job_id: no such job"),
         "410": _error("result expired (removed after --results-ttl)")},
        path_parameter={"name": "job_id", "in": "path", "required": True, "schema": JOB_ID}),
    "/api/jobs": Doc({"200": _ok(_listing({"type": "array", "items": {
        "type": "object", "additionalProperties": {
            "type": "string", "enum": ["running", "done", "error", "expired"]}}}),
        "every job id and its state, in job order; with last=N, the last N jobs and "
        "\"total\", the number of jobs accepted"),
        "400": _error("last is not a whole number from 1")},
        _query({"name": "last", "in": "query", "schema": {"type": "integer", "minimum": 1},
                "description": "only the last N jobs (the answer then also holds \"total\")"})),
    "/api/num_jobs": Doc({"200": _ok({"type": "object",
                                      "properties": {"num_jobs": {"type": "integer"}}})}),
    "/api/graceful_shutdown": Doc({"200": _ok({"type": "object", "properties": {
        "status": {"type": "string", "enum": ["shutting down", "done"]}}})}),
    "/api/questions": Doc({"200": _ok(_listing({"type": "array", "items": {
        "type": "object", "properties": {
            "question": {"type": "string"},
            "better": {"type": "string", "enum": ["lower", "higher"]},
            "locations": {"type": "integer"}}}}))}),
    "/api/states": Doc({"200": _ok(_listing({"type": "array", "items": {"type": "string"}})),
                        "400": _error("unknown question or parameter")},
                       _query(QUESTION_PARAMETER)),
    "/api/categories": Doc({"200": _ok(_listing({"type": "object", "additionalProperties": {
        "type": "array", "items": {"type": "string"}}})),
        "400": _error("missing or unknown question, state or parameter")},
        _query(QUESTION_PARAMETER, STATE_PARAMETER, required=("question", "state"))),
    "/api/openapi.json": Doc({"200": _ok({"type": "object"}, "this document")}),
    "/api/charts/": Doc(
        {"200": {"description": "the chart, 800 px wide",
                 "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
         "400": _error("missing, repeated, unknown or invalid parameter"),
         "404": _error("no chart of that kind")},
        _query(QUESTION_PARAMETER,
               dict(STATE_PARAMETER, description="a location (trend: repeat it for several; "
                                                 "categories and split: required)"),
               {"name": "category", "in": "query", "schema": {"type": "string"},
                "description": "split only: a StratificationCategory1, e.g. 'Age (years)'"},
               required=("question",)),
        path_parameter={"name": "kind", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(CHARTS)},
                        "description": "; ".join(f"{chart.name}: {chart.summary} (takes "
                                                 f"{', '.join(chart_parameters(chart))})"
                                                 for chart in CHARTS.values())}),
    "/": Doc({"200": {"description": "the dashboard page",
                      "content": {"text/html": {"schema": {"type": "string"}}}}}),
    "/static/": Doc({"200": {"description": "a file of the dashboard (HTML, CSS, JavaScript, "
                                            "images)", "content": {"*/*": {}}},
                     "404": _error("no such file")},
                    path_parameter={"name": "file", "in": "path", "required": True,
                                    "schema": {"type": "string"}}),
}


#: Every data endpoint ``/api/<name>``: a JSON body, a job id at once.
STATISTIC_DOC = Doc({
    "200": _ok({"type": "object", "required": ["job_id"],
                "properties": {"job_id": JOB_ID}}, "the job was queued"),
    "400": _error("bad JSON, or a missing, non-string or unknown question or state"),
    "413": _error("request body too large"),
    "503": _error("shutting down, or too many jobs queued (see Retry-After)")})


def _request_body(name: str) -> Dict[str, Any]:
    statistic = STATISTICS[name]
    fields = ["question", "state"] if statistic.needs_state else ["question"]
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": fields,
        "properties": {field: {"type": "string"} for field in fields}}}}}


def doc_for(path: str, route: Any) -> Optional[Doc]:
    """The :class:`Doc` of a route, or None if it has none (the test fails on that)."""
    if path == f"/api/{route.argument}" and route.argument in STATISTICS:
        return STATISTIC_DOC
    return DOCS.get(path)


def document(routes: Mapping[str, Any], prefix_routes: Mapping[str, Any]) -> Dict[str, Any]:
    """The OpenAPI 3.0 document of the routes ``{path: Route}`` and ``{prefix: Route}``."""
    paths: Dict[str, Any] = {}
    for path, route in routes.items():
        paths[path] = _operations(path, path, route)
    for prefix, route in prefix_routes.items():
        doc = doc_for(prefix, route)
        name = doc.path_parameter["name"] if doc and doc.path_parameter else "argument"
        paths[f"{prefix}{{{name}}}"] = _operations(prefix, f"{prefix}{{{name}}}", route)
    return {
        "openapi": "3.0.3",
        "info": {"title": "statsd", "version": __version__,
                 "description": "Statistics of the BRFSS nutrition, physical activity and "
                                "obesity data over an asynchronous JSON job API: POST a "
                                "statistic, get a job id, poll /api/get_results/{job_id}."},
        "paths": paths,
        "components": {"schemas": {
            "Error": ERROR,
            "Result": {"description": "the data of a statistic; see each POST endpoint",
                       "oneOf": [NUMBER_MAP, *_RESULT_SCHEMAS.values()]},
        }},
    }


def _operations(path: str, template: str, route: Any) -> Dict[str, Any]:
    doc = doc_for(path, route)
    if doc is None:
        doc = Doc({"200": {"description": "OK"}})
    parameters: List[Dict[str, Any]] = list(doc.parameters)
    if doc.path_parameter is not None:
        parameters.insert(0, doc.path_parameter)
    item: Dict[str, Any] = {}
    for method in route.methods:
        operation: Dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{method.lower()}_{_identifier(template)}",
            "responses": dict(doc.responses),
        }
        if parameters:
            operation["parameters"] = parameters
        if route.argument in STATISTICS and method == "POST":
            operation["requestBody"] = _request_body(route.argument)
            operation["responses"]["200"]["description"] = (
                f"queued; GET /api/get_results/{{job_id}} gives its data: {route.summary}")
        responses = operation["responses"]
        responses.setdefault("405", _error("method not allowed"))
        item[method.lower()] = operation
    return item


def _identifier(template: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in template).split()
    return "_".join(words) or "root"
