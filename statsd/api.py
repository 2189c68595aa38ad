"""The API: every route, declared once, and the endpoint function answering it.

Why: what a route takes (its methods, its query parameters) and what it
documents (summary, parameters, answers) must not drift apart, so both live
in one :class:`Route` of :data:`ROUTES`; the dispatcher enforces the first
(405 with ``Allow``, HEAD only on safe routes, one query-parameter policy)
and :mod:`statsd.openapi` writes ``/api/openapi.json`` from the same table.
Adding a route is one ``Route(...)`` in ROUTES plus one endpoint function
``endpoint(call) -> Response``.

Nothing here knows about sockets or framing: :mod:`statsd.transport` hands a
whole request over, and :mod:`statsd.server` turns a :class:`Call` into the
answer written back.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from . import assets, charts, discovery, metrics, openapi
from .csvresult import CSV_TYPE, to_csv
from .jobs import DONE, ERROR, EXPIRED, RUNNING, QueueClosed, QueueFull
from .openapi import ERROR_REF, JOB_ID, Param, Reply, listing, result_schema
from .query import Parameters, parse_query
from .request import FILTER_FIELDS
from .stats import STATISTICS, BadRequest, check_request
from .transport import JSON_TYPE, Headers, Response

if TYPE_CHECKING:  # pragma: no cover
    from .server import StatsServer


class Problem(Exception):
    """Raised by an endpoint to answer ``{"status": "error", "reason": ...}``."""

    def __init__(self, status: int, reason: str, headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


def json_response(data: object, status: int = 200, headers: Sequence[Tuple[str, str]] = ()) -> Response:
    return Response(status, json.dumps(data).encode(), JSON_TYPE, headers)


# The three answers of the job cycle, as json.dumps writes them, built with %
# (an int, and a job id that is ASCII letters, digits and "_" by its pattern):
# json.dumps of a one-key dict was 17,500 instructions, and json_response
# 21,000 of the 125,000 the application spent on a GET /api/num_jobs
# (cachegrind, 2,000 calls in a loop).
def job_id_body(job_id: str) -> bytes:
    """``{"job_id": "job_id_N"}``, the answer to a job submitted."""
    return b'{"job_id": "%s"}' % job_id.encode("ascii")


def num_jobs_body(count: int) -> bytes:
    """``{"num_jobs": N}``."""
    return b'{"num_jobs": %d}' % count


#: ``{"status": "running"}``
RUNNING_BODY = json.dumps({"status": RUNNING}).encode()


class Call:
    """One request as an endpoint sees it.

    ``params`` holds the query parameters the route declares (others were
    refused, names starting with ``_`` dropped); ``body`` is None when the
    request had no Content-Length.  An endpoint may set ``detail``, which the
    request's log line shows (the body, the job id it was given).
    """

    def __init__(self, server: "StatsServer", method: str, path: str, query: str,
                 headers: Headers, body: Optional[bytes], client: str) -> None:
        self.server = server
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.client = client
        self.route: Optional[Route] = None
        self.argument = ""  # the rest of the path, for a route ending in {parameter}
        self.params: Parameters = {}
        self.detail = ""

    def param(self, name: str) -> Optional[str]:
        """The value of query parameter ``name``, or None when absent or empty."""
        values = self.params.get(name)
        return values[0] if values and values[0] else None

    def json_body(self) -> object:
        """The request body parsed as JSON; any problem is a :class:`Problem` (400)."""
        raw = self.body
        if raw is None:  # no body at all: the question is missing, as the contract says
            raise Problem(400, "empty request body (no Content-Length); expected a JSON object")
        self.detail = raw[:300].decode("utf-8", "replace")
        if not raw.strip():
            raise Problem(400, "empty request body; expected a JSON object")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Problem(400, f"request body is not valid JSON: not UTF-8 text (byte "
                               f"0x{raw[error.start]:02x} at position {error.start})")
        if text.startswith("\ufeff"):
            text = text[1:]
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise Problem(400, f"request body is not valid JSON: {error.msg} at line "
                               f"{error.lineno} column {error.colno}")
        except ValueError:  # a number past the interpreter's digit limit
            raise Problem(400, "request body is not valid JSON: a number with too many digits")
        except RecursionError:  # json's parser recurses once per nesting level
            raise Problem(400, "request body is not valid JSON: nested too deeply")


class Route(NamedTuple):
    """One path of the API: what it takes, what serves it, what it documents.

    ``path`` is exact (``/api/jobs``) or ends in one ``{parameter}``
    (``/api/get_results/{job_id}``), which takes the rest of the path.
    ``safe``: its GET changes nothing (so HEAD is answered too).
    """

    name: str
    path: str
    methods: Tuple[str, ...]
    endpoint: Callable[[Call], Response]
    summary: str
    responses: Mapping[str, Reply]
    parameters: Tuple[Param, ...] = ()
    body: Optional[Dict[str, Any]] = None  # JSON schema of the request body
    safe: bool = True

    @property
    def query_names(self) -> List[str]:
        return [parameter.name for parameter in self.parameters if parameter.where == "query"]

    def allowed(self) -> List[str]:
        """Every method answered, for ``Allow`` and the CORS preflight."""
        methods = list(self.methods)
        if "GET" in methods and self.safe:
            methods.insert(methods.index("GET") + 1, "HEAD")
        return methods + ["OPTIONS"]


# -- the endpoints ----------------------------------------------------------------

def submit_job(call: Call) -> Response:
    server = call.server
    assert call.route is not None
    if server.shutting_down:  # whatever the body holds, no job now
        raise Problem(503, "shutting down")
    body = call.json_body()
    try:
        request = check_request(server.dataset, STATISTICS[call.route.name], body)
    except BadRequest as problem:
        raise Problem(400, str(problem))
    try:
        job_id = server.jobs.submit(request)
    except QueueClosed:
        raise Problem(503, "shutting down")
    except QueueFull:
        raise Problem(503, "too many jobs queued, retry later", headers=[("Retry-After", "1")])
    call.detail = f"{call.detail} -> {job_id}"
    return Response(200, job_id_body(job_id), JSON_TYPE)


#: The longest ``?wait=`` of get_results, in seconds: a waiting request holds a
#: handler thread, so the wait is bounded.
MAX_WAIT = 30.0
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")

#: The most jobs one GET /api/jobs lists (about 25 bytes each in JSON, so a
#: few MB at most); past it the full listing is refused and ?last=N is the way.
MAX_LISTED = 100_000

#: Answers that may change from one request to the next are not stored by caches.
NO_STORE = ("Cache-Control", "no-store")


def get_results(call: Call) -> Response:
    """A job's state and result: JSON, or CSV (``format=csv`` or ``Accept: text/csv``);
    ``wait=S`` holds the answer until the job ends or S seconds pass; a done
    result carries a strong ETag and answers 304 to a matching If-None-Match."""
    as_csv = _wants_csv(call)
    wait = _wait_seconds(call.param("wait"))
    jobs = call.server.jobs
    state, payload = jobs.result(call.argument)  # waits a little for a running job
    if wait is not None:
        deadline = time.monotonic() + wait
        while state == RUNNING and time.monotonic() < deadline:
            asked = time.monotonic()
            state, payload = jobs.result(call.argument)  # returns as soon as the job ends
            if state == RUNNING and time.monotonic() - asked < 0.01:
                time.sleep(0.01)  # a JobManager built not to wait: no busy loop
    if state == DONE:
        assert isinstance(payload, bytes)
        return _done(call, payload, as_csv)
    if state == RUNNING:
        return Response(200, RUNNING_BODY, JSON_TYPE, [NO_STORE])
    if state == ERROR:
        return json_response({"status": ERROR, "reason": payload})
    if state == EXPIRED:
        raise Problem(410, "result expired")
    raise Problem(404, "Invalid job_id", headers=[NO_STORE])  # the id may be handed out later


def _done(call: Call, payload: bytes, as_csv: bool) -> Response:
    """The answer for a done job, with its validator; 304 when the client has these bytes."""
    if as_csv:
        body = to_csv(json.loads(payload), _statistic_of(call)).encode()
        content_type = CSV_TYPE
    else:
        body = b'{"status": "done", "data": ' + payload + b"}"
        content_type = JSON_TYPE
    # Strong: the hash of the very bytes sent, so it changes exactly when they would.
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = [("ETag", etag), ("Cache-Control", "no-cache"), ("Vary", "Accept")]
    if _matches(call.headers.get("if-none-match"), etag):
        return Response(304, b"", content_type, headers)
    return Response(200, body, content_type, headers)


def _statistic_of(call: Call) -> Optional[str]:
    """The statistic of the job asked, when this run still knows it (for CSV column names)."""
    request = call.server.jobs.describe(call.argument).request
    return request.endpoint if request is not None else None


def _wants_csv(call: Call) -> bool:
    """``format`` decides; without it, an Accept that prefers text/csv to JSON does."""
    chosen = call.param("format")
    if chosen is not None:
        if chosen not in ("json", "csv"):
            raise Problem(400, f"parameter 'format' takes json or csv, not {chosen[:40]!r}")
        return chosen == "csv"
    accept = call.headers.get("accept")
    if not accept:
        return False
    weights: Dict[str, float] = {}
    for item in accept.split(","):
        media, _, options = item.partition(";")
        weight = 1.0
        for option in options.split(";"):
            name, _, value = option.strip().partition("=")
            if name.lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.strip().lower()] = weight
    csv_weight = weights.get("text/csv", 0.0)
    return csv_weight > 0 and csv_weight >= weights.get("application/json", 0.0)


def _wait_seconds(text: Optional[str]) -> Optional[float]:
    """``wait``: None when absent; a decimal number of seconds from 0 to MAX_WAIT, else 400."""
    if text is None:
        return None
    if not _DECIMAL.fullmatch(text) or float(text) > MAX_WAIT:
        raise Problem(400, f"parameter 'wait' must be a number of seconds from 0 to "
                           f"{MAX_WAIT:g}, not {text[:40]!r}")
    return float(text)


def _matches(if_none_match: Optional[str], etag: str) -> bool:
    """RFC 9110 13.1.2: ``*``, or any listed entity tag equal to ``etag`` (weak comparison)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or (tag[2:] if tag.startswith("W/") else tag) == etag:
            return True
    return False


def list_jobs(call: Call) -> Response:
    """Every job, as the contract says; ``?last=N``: the last N, and the total.

    The answer is built in memory, so it is bounded: a listing that would
    hold more than MAX_LISTED jobs (ids continue after a stray
    ``job_id_1000000000.json``) is a 400 pointing to a smaller ``?last=N``,
    never a billion entries.  ``last`` larger than the jobs there are is
    all of them, as before.
    """
    jobs = call.server.jobs
    total = jobs.accepted()
    last_text = call.params.get("last", [None])[0]
    if last_text is None:
        if total > MAX_LISTED:
            raise Problem(400, f"{total} jobs are more than the {MAX_LISTED} listed at once; "
                               f"ask for the last ones with /api/jobs?last=N (N up to {MAX_LISTED})")
        return json_response({"status": "done",
                              "data": [{job_id: state} for job_id, state in jobs.states()]},
                             headers=[NO_STORE])
    digits = last_text.lstrip("0")
    if not (last_text.isascii() and last_text.isdigit()) or not digits:
        raise Problem(400, f"parameter 'last' must be a whole number from 1, not {last_text[:40]!r}")
    # A huge digit string counts as "more than any": int() of it is slow (3.11+ refuses it).
    last = int(digits) if len(digits) <= 18 else 10 ** 18
    if min(last, total) > MAX_LISTED:
        raise Problem(400, f"parameter 'last' may list at most {MAX_LISTED} jobs at once, "
                           f"not {last_text[:40]}")
    data = [{job_id: state} for job_id, state in jobs.states(last=last)]
    return json_response({"status": "done", "data": data, "total": total}, headers=[NO_STORE])


def describe_job(call: Call) -> Response:
    """One job: its state, the request it was asked (null once no longer known), its failure."""
    state, request, reason = call.server.jobs.describe(call.argument)
    if not state:
        raise Problem(404, "Invalid job_id")
    data: Dict[str, Any] = {"job_id": call.argument, "state": state,
                            "request": None if request is None else request.to_json()}
    if reason is not None:
        data["reason"] = reason
    return json_response({"status": "done", "data": data})


def num_jobs(call: Call) -> Response:
    return Response(200, num_jobs_body(call.server.jobs.pending()), JSON_TYPE, [NO_STORE])


def graceful_shutdown(call: Call) -> Response:
    server = call.server
    server.begin_shutdown(f"{call.method} /api/graceful_shutdown from {call.client}")
    status = "done" if server.jobs.pending() == 0 else "shutting down"
    return json_response({"status": status})


def list_data(call: Call) -> Response:
    assert call.route is not None
    try:
        data = discovery.LISTS[call.route.name](call.server.dataset, call.query)
    except BadRequest as problem:
        raise Problem(400, str(problem))
    return json_response({"status": "done", "data": data})


def chart(call: Call) -> Response:
    try:
        svg = charts.render(call.server.dataset, call.argument, call.query)
    except charts.UnknownChart as problem:
        raise Problem(404, str(problem))
    except BadRequest as problem:
        raise Problem(400, str(problem))
    return Response(200, svg.encode(), charts.SVG_TYPE)


def health(call: Call) -> Response:
    """Serving (200) or stopping (503), with a few numbers; reads three values, writes nothing."""
    server = call.server
    stopping = server.shutting_down
    body = {"status": "shutting down" if stopping else "ok",
            "rows": server.dataset.rows_loaded,
            "jobs_pending": server.jobs.pending(),
            "uptime_seconds": round(time.monotonic() - server.started, 3)}
    return json_response(body, 503 if stopping else 200, [("Cache-Control", "no-store")])


def metrics_text(call: Call) -> Response:
    return Response(200, call.server.metrics.render().encode("utf-8"), metrics.CONTENT_TYPE,
                    [("Cache-Control", "no-store")])


def openapi_document(call: Call) -> Response:
    return json_response(openapi.document(ROUTES))


def dashboard(call: Call) -> Response:
    return _asset("index.html")


def static_file(call: Call) -> Response:
    return _asset(call.argument)


def _asset(name: str) -> Response:
    found = assets.asset(name)
    if found is None:
        raise Problem(404, f"no such file: {name}")
    return Response(200, found.body, found.content_type, [("Cache-Control", "no-cache")])


# -- the route table ------------------------------------------------------------

HEALTH = {"type": "object", "required": ["status", "rows", "jobs_pending", "uptime_seconds"],
          "properties": {"status": {"type": "string", "enum": ["ok", "shutting down"]},
                         "rows": {"type": "integer", "description": "rows of data loaded"},
                         "jobs_pending": {"type": "integer",
                                          "description": "jobs queued or running"},
                         "uptime_seconds": {"type": "number"}}}
QUESTION = Param("question", "exact question text, as listed by GET /api/questions")
STATE = Param("state", "a location, as listed by GET /api/states?question=...")


FILTER_DOCS = {
    "year_from": "optional filter: keep rows with YearStart >= year_from (null: no bound)",
    "year_to": "optional filter: keep rows with YearStart <= year_to (null: no bound)",
    "category": "optional filter: keep rows of this StratificationCategory1, e.g. 'Total' "
                "(GET /api/categories lists them)",
    "stratification": "optional filter: keep rows of this Stratification1 of the category "
                      "(needs category)",
}
STATE = STATE._replace(description="a location, as listed by GET /api/states?question=...; "
                                   "any letter case, or its LocationAbbr ('OH', 'US')")


def _statistic_route(name: str) -> Route:
    statistic = STATISTICS[name]
    fields = ["question", "state"] if statistic.needs_state else ["question"]
    properties: Dict[str, Any] = {field: {"type": "string"} for field in fields}
    for field in FILTER_FIELDS:
        kind = "integer" if field.startswith("year") else "string"
        properties[field] = {"type": kind, "nullable": True,
                             "description": FILTER_DOCS[field]}
    return Route(
        name, f"/api/{name}", ("POST",), submit_job, statistic.summary,
        {"200": Reply(f"queued; GET /api/get_results/{{job_id}} then gives its data: "
                      f"{statistic.summary} (schema: x-result)",
                      {"type": "object", "required": ["job_id"], "properties": {"job_id": JOB_ID},
                       "x-result": result_schema(name)}),
         "400": Reply("bad JSON; a missing, non-string or unknown question or state; a bad "
                      "filter (named in the reason); a filter that keeps no row of the state "
                      "or the question", ERROR_REF),
         "413": Reply("request body over 64 KiB", ERROR_REF),
         "503": Reply("shutting down, or too many jobs queued (see Retry-After)", ERROR_REF)},
        body={"type": "object", "required": fields, "properties": properties},
        safe=False)


ROUTES: List[Route] = [
    *(_statistic_route(name) for name in STATISTICS),
    Route("get_results", "/api/get_results/{job_id}", ("GET",), get_results,
          "state and result of a job",
          {"200": Reply("the job's state: running (queued or computing; Cache-Control: "
                        "no-store), done with its data, or error.  A done result has a strong "
                        "ETag and Cache-Control: no-cache; as text/csv (format=csv, or Accept: "
                        "text/csv) it is a header row and one row per entry of data: "
                        "location,mean (states_mean, state_mean, best5, worst5), "
                        "location,difference (diff_from_mean, state_diff_from_mean), "
                        "global_mean, location,category,stratification,mean (both "
                        "by-category statistics); location,value for a result of an earlier "
                        "run whose statistic is no longer known", {"oneOf": [
                            {"type": "object", "properties": {"status": {"enum": ["running"]}}},
                            {"type": "object", "properties": {
                                "status": {"enum": ["done"]},
                                "data": {"$ref": "#/components/schemas/Result"}}},
                            ERROR_REF]}, also=(("text/csv", {"type": "string"}),)),
           "304": Reply("not modified: If-None-Match holds the result's ETag (no body)",
                        content_type=""),
           "400": Reply("format is not json or csv; wait is not a number from 0 to 30", ERROR_REF),
           "404": Reply("Invalid job_id: no such job", ERROR_REF),
           "410": Reply("result expired (removed after --results-ttl)", ERROR_REF)},
          (Param("job_id", "a job id as answered by a POST", JOB_ID, where="path", required=True),
           Param("format", "json (the default) or csv, for a done result",
                 {"type": "string", "enum": ["json", "csv"]}),
           Param("wait", "seconds (a decimal number, 0 to 30) to wait for a running job to "
                         "end before answering; the answer comes as soon as it ends",
                 {"type": "number", "minimum": 0, "maximum": MAX_WAIT}))),
    Route("jobs", "/api/jobs", ("GET",), list_jobs,
          "every job id and its state, in job order; past 100,000 jobs only with last=N",
          {"200": Reply("every job id and its state, in job order; with last=N, the last N jobs "
                        "and \"total\", the number of jobs accepted",
                        listing({"type": "array", "items": {
                            "type": "object", "additionalProperties": {
                                "type": "string",
                                "enum": ["running", "done", "error", "expired"]}}})),
           "400": Reply("last is not a whole number from 1, or the answer would list more "
                        "than 100,000 jobs (more were accepted, and last is missing or above "
                        "100,000): ask for last=N", ERROR_REF)},
          (Param("last", "only the last N jobs (the answer then also holds \"total\")",
                 {"type": "integer", "minimum": 1}),)),
    Route("job", "/api/jobs/{job_id}", ("GET",), describe_job,
          "one job: its state, what was asked, and why it failed",
          {"200": Reply("the job's state; its request as the POST's body with \"endpoint\" (null "
                        "when statsd no longer knows it: jobs of an earlier run, or older than the "
                        "last 10,000); reason only for error",
                        listing({"type": "object", "required": ["job_id", "state", "request"],
                                 "properties": {
                                     "job_id": JOB_ID,
                                     "state": {"type": "string",
                                               "enum": ["running", "done", "error", "expired"]},
                                     "request": {"type": "object", "nullable": True,
                                                 "required": ["endpoint", "question"],
                                                 "properties": {
                                                     "endpoint": {"type": "string"},
                                                     "question": {"type": "string"},
                                                     "state": {"type": "string"}}},
                                     "reason": {"type": "string"}}})),
           "404": Reply("Invalid job_id: no such job", ERROR_REF)},
          (Param("job_id", "a job id as answered by a POST", JOB_ID, where="path", required=True),)),
    Route("num_jobs", "/api/num_jobs", ("GET",), num_jobs, "number of jobs queued or running",
          {"200": Reply("jobs queued or running",
                        {"type": "object", "properties": {"num_jobs": {"type": "integer"}}})}),
    Route("graceful_shutdown", "/api/graceful_shutdown", ("GET", "POST"), graceful_shutdown,
          "finish queued jobs, refuse new ones, then exit",
          {"200": Reply("\"shutting down\" while jobs remain, \"done\" when none do",
                        {"type": "object", "properties": {
                            "status": {"type": "string", "enum": ["shutting down", "done"]}}})},
          safe=False),
    Route("questions", "/api/questions", ("GET",), list_data,
          "every question with data, which way is better, how many locations",
          {"200": Reply("the questions, sorted", listing({"type": "array", "items": {
              "type": "object", "properties": {
                  "question": {"type": "string"},
                  "better": {"type": "string", "enum": ["lower", "higher"]},
                  "locations": {"type": "integer"}}}}))}),
    Route("states", "/api/states", ("GET",), list_data,
          "every location, or those with data for one question",
          {"200": Reply("the locations' LocationDesc, sorted; with with=abbr, each as "
                        "{name, abbreviation} (its LocationAbbr, \"\" if the data has none)",
                        listing({"type": "array", "items": {"oneOf": [
                            {"type": "string"},
                            {"type": "object", "properties": {
                                "name": {"type": "string"},
                                "abbreviation": {"type": "string"}}}]}})),
           "400": Reply("unknown question or parameter", ERROR_REF)},
          (QUESTION, Param("with", "abbr: list each location with its abbreviation",
                           {"type": "string", "enum": ["abbr"]}))),
    Route("categories", "/api/categories", ("GET",), list_data,
          "stratification categories and groups: of the data, of a question, or of a "
          "question and location",
          {"200": Reply("category -> its groups, sorted", listing({
              "type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}})),
           "400": Reply("unknown question or state, a state without a question, or an unknown "
                        "parameter", ERROR_REF)},
          (QUESTION, STATE)),
    Route("years", "/api/years", ("GET",), list_data,
          "the YearStart values with data for a question (and location)",
          {"200": Reply("the years, ascending", listing({"type": "array",
                                                         "items": {"type": "integer"}})),
           "400": Reply("missing or unknown question, unknown state or parameter", ERROR_REF)},
          (QUESTION._replace(required=True), STATE)),
    Route("charts", "/api/charts/{kind}", ("GET",), chart, "a chart of the data as SVG",
          {"200": Reply("the chart, 800 px wide", {"type": "string"}, "image/svg+xml"),
           "400": Reply("missing, repeated, unknown or invalid parameter", ERROR_REF),
           "404": Reply("no chart of that kind", ERROR_REF)},
          (Param("kind", "; ".join(f"{kind.name}: {kind.summary} (takes "
                                   f"{', '.join(charts.chart_parameters(kind))})"
                                   for kind in charts.CHARTS.values()),
                 {"type": "string", "enum": list(charts.CHARTS)}, where="path", required=True),
           QUESTION._replace(required=True),
           STATE._replace(description="a location (trend: repeat it for several; categories and "
                                      "split: required)", repeatable=True),
           Param("category", "split: the StratificationCategory1 it splits, e.g. 'Age (years)' "
                             "(required); the other charts: a filter, as the data endpoints' "
                             "field"),
           Param("year_from", "filter: keep rows with YearStart >= this (as the data endpoints)",
                 {"type": "integer"}),
           Param("year_to", "filter: keep rows with YearStart <= this", {"type": "integer"}),
           Param("stratification", "filter (not split): one Stratification1 of category"))),
    Route("health", "/api/health", ("GET",), health,
          "whether statsd serves, for a load balancer or a container's health check",
          {"200": Reply("serving", HEALTH),
           "503": Reply("shutting down: queued jobs finish, new ones are refused", HEALTH)}),
    Route("metrics", "/api/metrics", ("GET",), metrics_text,
          "counters, gauges and histograms for Prometheus (text format 0.0.4)",
          {"200": Reply("the metrics, in the Prometheus text exposition format 0.0.4",
                        {"type": "string"}, "text/plain")}),
    Route("openapi", "/api/openapi.json", ("GET",), openapi_document,
          "this API as an OpenAPI 3 document", {"200": Reply("this document", {"type": "object"})}),
    Route("dashboard", "/", ("GET",), dashboard,
          "the dashboard: run any statistic, see its table and chart",
          {"200": Reply("the dashboard page", {"type": "string"}, "text/html")}),
    Route("static", "/static/{file}", ("GET",), static_file, "the dashboard's files",
          {"200": Reply("a file of the dashboard (HTML, CSS, JavaScript, images)", None, "*/*"),
           "404": Reply("no such file", ERROR_REF)},
          (Param("file", "a file name", where="path", required=True),)),
]


def _index(routes: Sequence[Route]) -> Tuple[Dict[str, Route], List[Tuple[str, Route]]]:
    """Exact paths, and the prefixes of paths ending in a parameter (longest first)."""
    exact: Dict[str, Route] = {}
    prefixes: List[Tuple[str, Route]] = []
    for route in routes:
        brace = route.path.find("{")
        if brace < 0:
            exact[route.path] = route
        else:
            prefixes.append((route.path[:brace], route))
    prefixes.sort(key=lambda item: -len(item[0]))
    return exact, prefixes


_EXACT, _PREFIXES = _index(ROUTES)


def find_route(path: str) -> Tuple[Optional[Route], str]:
    """The route serving ``path`` and its path argument, or ``(None, "")``."""
    route = _EXACT.get(path)
    if route is not None:
        return route, ""
    for prefix, route in _PREFIXES:
        if path.startswith(prefix):
            return route, path[len(prefix):]
    return None, ""


#: Methods a route may take; any other one is a 501, on any path.
KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))


def check_method(route: Route, method: str, path: str) -> None:
    """Problem 405 (with ``Allow``) unless ``route`` answers ``method``; 501 for a method
    no route has."""
    if method not in KNOWN_METHODS:
        raise Problem(501, f"method {method} is not supported")
    if method in route.methods or method == "OPTIONS" or (
            method == "HEAD" and "GET" in route.methods and route.safe):
        return
    raise Problem(405, f"method {method} not allowed on {path}",
                  headers=[("Allow", ", ".join(route.allowed()))])


def route_for(method: str, path: str) -> Route:
    """The route that answers ``method`` on ``path``, or a :class:`Problem` (404, 405)."""
    route, _ = find_route(path)
    if route is None:
        raise Problem(404, f"no such endpoint: {path}")
    check_method(route, method, path)
    return route


def dispatch(call: Call, cors: bool = False) -> Response:
    """Answer ``call`` from its route; a :class:`Problem` from any step is raised."""
    if call.path == "*" and call.method == "OPTIONS":  # the server as a whole (RFC 9110 9.3.7)
        return Response(204, b"", JSON_TYPE, [("Allow", "GET, HEAD, POST, OPTIONS")])
    route, call.argument = find_route(call.path)
    if route is None:
        raise Problem(404, f"no such endpoint: {call.path}")
    call.route = route
    check_method(route, call.method, call.path)
    if call.method == "OPTIONS":
        methods = ", ".join(route.allowed())
        headers = [("Allow", methods)]
        if cors:
            headers += [("Access-Control-Allow-Methods", methods),
                        ("Access-Control-Allow-Headers", "Content-Type"),
                        ("Access-Control-Max-Age", "600")]
        return Response(204, b"", JSON_TYPE, headers)
    if call.query:  # most requests have none (the names are listed only for those that do)
        try:
            call.params = parse_query(call.query, route.query_names,
                                      [p.name for p in route.parameters if p.repeatable])
        except BadRequest as problem:
            raise Problem(400, str(problem))
    return route.endpoint(call)
