"""Command-line client: ``python3 -m statsd.client best5 --question "..."``.

Why: the original service was driven by hand with curl or Postman, which
means typing long question texts exactly and polling for results by hand.
This client submits a statistic, polls ``get_results`` (showing progress on
stderr), and prints the result as a table, or as the server's JSON with
``--json``.  A question may be given as its exact text, as its number in
``questions``, or as any piece of its text that names one question only.
It uses ``urllib.request`` alone, like the server uses the standard library.

Options such as ``--server`` and ``--json`` may stand anywhere on the line
(before or after the command), as people type them; ``--server`` takes a URL
or a bare ``host:port``.  ``result 7`` names ``job_id_7`` and prints it as the
table of its statistic, like the command that ran it did.

Exit status: 0 on success; 1 when the server refuses or a job fails (the
server's reason is printed); 2 for a bad command line, a bad server address
included; 3 when the server cannot be reached.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import http.client
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from .stats import STATISTICS

DEFAULT_SERVER = "http://127.0.0.1:5000"
DEFAULT_PORT = 5000
POLL_SECONDS = 0.2


def server_url(text: str) -> str:
    """``text`` as the base URL of a server; argparse's error for an address that is none.

    ``host:port`` and ``host`` need no scheme (``http://`` is meant, and
    statsd's port 5000 when none is given); a URL may carry a path prefix
    (statsd behind a proxy at ``/statsd/``).
    """
    given = text.strip()
    bare = "://" not in given
    parts = urllib.parse.urlsplit(f"http://{given}" if bare else given)
    try:
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad server address {text!r}: the port is not a number "
                                         f"from 1 to 65535")
    if parts.scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"bad server address {text!r}: only http:// and https:// "
                                         f"are spoken")
    if not parts.hostname or parts.username is not None or parts.query or parts.fragment \
            or port == 0 or any(char.isspace() for char in given):
        raise argparse.ArgumentTypeError(f"bad server address {text!r}: expected HOST:PORT or "
                                         f"http://HOST:PORT")
    netloc = parts.netloc if port is not None or not bare else f"{parts.netloc}:{DEFAULT_PORT}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


class ClientError(Exception):
    """What went wrong, for the user; ``exit_code`` says which kind of failure."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Server:
    """The statsd API at ``url``, spoken with urllib.request."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def exchange(self, method: str, path: str, body: Any = None,
                 accept: str = "application/json") -> Tuple[int, bytes]:
        """``(status, body bytes)`` of one request; ClientError if there is no answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json",
                                                  "Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
            reason = getattr(error, "reason", error)
            raise ClientError(f"cannot reach {self.url}: {reason}", exit_code=3)

    def request(self, method: str, path: str, body: Any = None) -> Tuple[int, Any]:
        """``(status, parsed JSON)``; ClientError if there is no answer or no JSON."""
        status, raw = self.exchange(method, path, body)
        try:
            return status, json.loads(raw)
        except ValueError:
            raise ClientError(f"{method} {path}: HTTP {status}, not JSON: {raw[:200]!r}")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON answer of a request that must succeed; else ClientError with the reason."""
        status, answer = self.request(method, path, body)
        if status >= 400 or (isinstance(answer, dict) and answer.get("status") == "error"):
            reason = answer.get("reason") if isinstance(answer, dict) else None
            raise ClientError(f"{reason or answer} (HTTP {status})")
        return answer

    def get(self, path: str, **query: Optional[str]) -> Any:
        params = {name: value for name, value in query.items() if value is not None}
        if params:
            path += "?" + urllib.parse.urlencode(params)
        return self.call("GET", path)

    def wait(self, job_id: str, deadline: float, progress: "Progress",
             announce: bool = True) -> Dict[str, Any]:
        """Poll ``get_results`` every 0.2 s until the job is no longer running.

        With ``announce`` false, a job found ended at the first poll is not
        reported on stderr (``result`` of a job done long ago).
        """
        started = time.monotonic()
        while True:
            # request(), not call(): a job that ended in error is an answer to show.
            status, answer = self.request("GET", f"/api/get_results/{urllib.parse.quote(job_id)}")
            if status >= 400 or not isinstance(answer, dict):
                reason = answer.get("reason") if isinstance(answer, dict) else answer
                raise ClientError(f"{job_id}: {reason} (HTTP {status})")
            elapsed = time.monotonic() - started
            if answer.get("status") != "running":
                if announce or progress.shown:
                    progress.finish(job_id, answer.get("status", "?"), elapsed)
                return answer
            progress.running(job_id, elapsed)
            if elapsed > deadline:
                progress.finish(job_id, "still running", elapsed)
                raise ClientError(f"{job_id} still running after {deadline:g} s; "
                                  f"ask again with: result {job_id}")
            time.sleep(POLL_SECONDS)


class Progress:
    """One status line on stderr while a job runs: rewritten in place on a terminal."""

    def __init__(self, stream: TextIO, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.terminal = stream.isatty()
        self.shown = False

    def running(self, job_id: str, elapsed: float) -> None:
        if self.quiet:
            return
        if self.terminal:
            self.stream.write(f"\r{job_id}: running {elapsed:4.1f} s ")
        elif not self.shown:
            self.stream.write(f"{job_id}: running\n")
        self.stream.flush()
        self.shown = True

    def submitted(self, job_id: str, statistic: str) -> None:
        if not self.quiet:
            self.stream.write(f"{job_id}: {statistic} queued\n")
            self.stream.flush()

    def finish(self, job_id: str, state: str, elapsed: float) -> None:
        if self.quiet:
            return
        line = f"{job_id}: {state} in {elapsed:.2f} s"
        if self.terminal and self.shown:
            line = f"\r{line}      "  # cover the longer "running" line
        self.stream.write(line + "\n")
        self.stream.flush()


# -- naming a question and a state without typing them exactly ---------------------


def resolve_question(server: Server, text: str) -> str:
    """The exact question meant by ``text``: the text itself, its number, or a unique piece.

    A ``text`` of digits only is a number in ``questions`` and nothing else
    (``0`` is not a piece of "150 minutes").
    """
    try:
        questions = [item["question"] for item in server.get("/api/questions")["data"]]
    except ClientError as error:
        if error.exit_code == 3:
            raise
        return text  # a server without /api/questions: send the text as it is
    if text in questions:
        return text
    if text.isascii() and text.isdigit():
        if 1 <= int(text) <= len(questions):
            return questions[int(text) - 1]
        raise ClientError(f"no question number {text}: they go from 1 to {len(questions)}; "
                          f"list them with: questions")
    matches = [question for question in questions if text.lower() in question.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ClientError(f"no question matches {text!r}; list them with: questions")
    listing = "\n".join(f"  {questions.index(match) + 1}. {match}" for match in matches)
    raise ClientError(f"{text!r} matches {len(matches)} questions; give more of the text "
                      f"or the number:\n{listing}")


def resolve_state(server: Server, question: str, text: str) -> str:
    """``text``, or the location it names with other letter case."""
    try:
        states = server.get("/api/states", question=question)["data"]
    except ClientError as error:
        if error.exit_code == 3:
            raise
        return text
    if text in states:
        return text
    for state in states:
        if state.lower() == text.lower():
            return state
    return text  # the server names the problem


# -- printing ----------------------------------------------------------------------


def format_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows as aligned text columns; numbers right-aligned."""
    cells = [[format_number(value) for value in row] for row in rows]
    numeric = [all(isinstance(row[index], (int, float)) for row in rows) if rows else False
               for index in range(len(headers))]
    widths = [max([len(header)] + [len(row[index]) for row in cells])
              for index, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.rjust(width) if numeric[index] else value.ljust(width)
                         for index, (value, width) in enumerate(zip(values, widths))).rstrip()

    rule = "  ".join("-" * min(width, 40) for width in widths).rstrip()
    return "\n".join([line(headers), rule] + [line(row) for row in cells])


def guess_statistic(data: Any) -> Optional[str]:
    """The statistic whose ``data`` has this shape, where the shape tells (else None).

    Used for a job whose request the server does not say: ``global_mean`` and
    the two by-category statistics have shapes of their own; the others are
    all ``{location: number}``.
    """
    if not isinstance(data, dict) or not data:
        return None
    if list(data) == ["global_mean"]:
        return "global_mean"
    values = list(data.values())
    if len(values) == 1 and isinstance(values[0], dict):
        return "state_mean_by_category"
    if all(_tuple_key(key, 3) is not None for key in data):
        return "mean_by_category"
    return None


def _tuple_key(text: str, size: int) -> Optional[Tuple[str, ...]]:
    """``"('a', 'b')"`` as ``('a', 'b')`` when it is a tuple of ``size`` strings, else None."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, tuple) and len(value) == size and all(isinstance(v, str) for v in value):
        return value
    return None


def result_table(statistic: Optional[str], data: Any) -> str:
    """The ``data`` of a statistic as a readable table (``statistic`` None: by its shape)."""
    statistic = statistic or guess_statistic(data)
    if statistic == "global_mean":
        return table([("global_mean", data["global_mean"])], ("", "mean"))
    if statistic == "mean_by_category":
        rows = [(*ast.literal_eval(key), mean) for key, mean in data.items()]
        return table(rows, ("location", "category", "stratification", "mean"))
    if statistic == "state_mean_by_category":
        ((state, groups),) = data.items()
        rows = [(*ast.literal_eval(key), mean) for key, mean in groups.items()]
        return f"{state}\n" + table(rows, ("category", "stratification", "mean"))
    if statistic is None:
        value = "value"
    else:
        value = "global mean - mean" if "diff" in statistic else "mean"
    if statistic in ("best5", "worst5"):
        return table([(rank, location, mean) for rank, (location, mean)
                      in enumerate(data.items(), 1)], ("rank", "location", value))
    return table(list(data.items()), ("location", value))


# -- the commands -------------------------------------------------------------------

#: Body fields of the filters (statsd's own, see the README), by their option's dest.
FILTERS = ("year_from", "year_to", "category", "stratification")


def job_id_of(text: str) -> str:
    """``7`` and ``job_id_7`` both name ``job_id_7``; anything else is sent as it is."""
    if text.isascii() and text.isdigit():
        return f"job_id_{int(text)}"
    return text


def csv_of(server: Server, job_id: str) -> str:
    """The result of a done job as the server's CSV (``?format=csv``)."""
    status, raw = server.exchange("GET", f"/api/get_results/{urllib.parse.quote(job_id)}"
                                         f"?format=csv", accept="text/csv")
    text = raw.decode("utf-8", "replace")
    if status >= 400 or text.lstrip().startswith("{"):
        try:
            reason = json.loads(text).get("reason") or "it answered JSON (no ?format=csv there)"
        except (ValueError, AttributeError):
            reason = repr(text[:200])
        raise ClientError(f"{job_id}: no CSV from the server: {reason} (HTTP {status})")
    return text[:-1] if text.endswith("\n") else text


def run_statistic(server: Server, args: argparse.Namespace, progress: Progress) -> Tuple[Any, str]:
    statistic = STATISTICS[args.command]
    question = resolve_question(server, args.question)
    body: Dict[str, Any] = {"question": question}
    if statistic.needs_state:
        body["state"] = resolve_state(server, question, args.state)
    for name in FILTERS:
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    job_id = server.call("POST", f"/api/{args.command}", body)["job_id"]
    progress.submitted(job_id, args.command)
    answer = server.wait(job_id, args.wait, progress)
    if answer.get("status") != "done":
        raise ClientError(f"{job_id}: {answer.get('reason', answer)}")
    if args.csv:
        return answer, csv_of(server, job_id)
    return answer, f"{question}\n" + result_table(args.command, answer["data"])


def job_request(server: Server, job_id: str) -> Dict[str, Any]:
    """What the server says job ``job_id`` asked (``GET /api/jobs/<id>``), or ``{}``.

    A server that keeps no requests (or an older statsd) answers 404: the
    result is then shown by its shape.
    """
    status, answer = server.request("GET", f"/api/jobs/{urllib.parse.quote(job_id)}")
    if status != 200 or not isinstance(answer, dict):
        return {}
    found = answer.get("data", answer)
    if isinstance(found, dict) and isinstance(found.get("request"), dict):
        found = dict(found["request"], **{k: v for k, v in found.items() if k != "request"})
    return found if isinstance(found, dict) else {}


def run_result(server: Server, args: argparse.Namespace, progress: Progress) -> Tuple[Any, str]:
    """An earlier job's result, waited for if it still runs, shown as its statistic's table."""
    job_id = job_id_of(args.job_id)
    answer = server.wait(job_id, args.wait, progress, announce=False)
    if answer.get("status") != "done":
        raise ClientError(f"{job_id}: {answer.get('reason', answer)}")
    if args.csv:
        return answer, csv_of(server, job_id)
    if args.json:
        return answer, ""
    asked = job_request(server, job_id)
    statistic = asked.get("statistic") or asked.get("endpoint")
    if statistic not in STATISTICS:
        statistic = None
    heading = f"{job_id}: {statistic or 'result'}"
    if isinstance(asked.get("question"), str):
        heading += f"\n{asked['question']}"
    return answer, f"{heading}\n" + result_table(statistic, answer["data"])


def run_command(server: Server, args: argparse.Namespace, progress: Progress) -> Tuple[Any, str]:
    """``(JSON answer, readable text)`` of the command in ``args``."""
    command = args.command
    if command in STATISTICS:
        return run_statistic(server, args, progress)
    if command == "result":
        return run_result(server, args, progress)
    if command == "questions":
        answer = server.get("/api/questions")
        rows = [(number, item["better"], item["locations"], item["question"])
                for number, item in enumerate(answer["data"], 1)]
        return answer, table(rows, ("#", "better", "locations", "question"))
    if command == "states":
        question = None if args.question is None else resolve_question(server, args.question)
        answer = server.get("/api/states", question=question)
        return answer, "\n".join(answer["data"])
    if command == "jobs":
        last = None if args.last is None else str(args.last)
        answer = server.get("/api/jobs", last=last)
        rows = [next(iter(entry.items())) for entry in answer["data"]]
        text = table(rows, ("job", "state")) if rows else "no jobs yet"
        if last is not None and "total" in answer:
            text += f"\nlast {len(rows)} of {answer['total']} jobs"
        return answer, text
    if command == "num_jobs":
        answer = server.get("/api/num_jobs")
        return answer, f"{answer['num_jobs']} jobs queued or running"
    if command == "shutdown":
        answer = server.call("POST", "/api/graceful_shutdown", {})
        text = {"done": "no jobs left: the server is stopping",
                "shutting down": "the server finishes its queued jobs, then stops"}
        return answer, text.get(answer.get("status"), str(answer))
    raise ClientError(f"unknown command {command!r}", exit_code=2)


def add_output_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """The options that may stand before or after the command.

    The main parser holds their defaults; each command's parser has them
    too, with no default (``SUPPRESS``), so that one given after the command
    overrides, and one not given there leaves what came before it.
    """
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("options (before or after the command)")
    group.add_argument("--server", type=server_url, default=default(DEFAULT_SERVER),
                       metavar="URL", help="the statsd to ask: http://HOST:PORT, or just "
                       "HOST:PORT (default %s)" % DEFAULT_SERVER)
    group.add_argument("--json", action="store_true", default=default(False),
                       help="print the server's JSON answer as it is")
    group.add_argument("--wait", type=float, default=default(300.0), metavar="SECONDS",
                       help="how long to wait for a job (default 300)")
    group.add_argument("--quiet", action="store_true", default=default(False),
                       help="no progress on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m statsd.client",
        description="Ask a statsd server for statistics of the BRFSS data.",
        epilog="A --question may be its exact text, its number in 'questions', or a piece "
               "of its text that matches one question only (e.g. 'obesity'). "
               "'COMMAND --help' describes each command. Exit status: "
               "0 ok, 1 refused or failed (the server's reason is printed), 2 bad usage "
               "(a bad --server address too), 3 server unreachable.")
    add_output_options(parser, defaults=True)
    parser.set_defaults(csv=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=description)
        add_output_options(sub, defaults=False)
        return sub

    for name, statistic in STATISTICS.items():
        needs = "a question and a location" if statistic.needs_state else "a question"
        sub = command(name, statistic.summary,
                      f"{statistic.summary[0].upper()}{statistic.summary[1:]}: submits the job "
                      f"{name} for {needs}, waits for it and prints its result as a table. "
                      f"The filters keep only the rows they name (years, a category, a group).")
        sub.add_argument("--question", "-q", required=True,
                         help="the question: its text, its number in 'questions', or a piece "
                              "of its text that names one question only")
        if statistic.needs_state:
            sub.add_argument("--state", "-s", required=True,
                             help="a location, e.g. Ohio (letter case does not matter)")
        filters = sub.add_argument_group("filters")
        filters.add_argument("--year-from", type=int, metavar="YEAR",
                             help="only rows with YearStart >= YEAR")
        filters.add_argument("--year-to", type=int, metavar="YEAR",
                             help="only rows with YearStart <= YEAR")
        filters.add_argument("--category", metavar="CATEGORY",
                             help="only rows of this StratificationCategory1, e.g. Income")
        filters.add_argument("--stratification", metavar="GROUP",
                             help="only rows of this Stratification1 of --category")
        sub.add_argument("--csv", action="store_true",
                         help="print the result as the server's CSV (?format=csv)")
    command("questions", "list the questions, numbered",
            "List the questions of the server's data, numbered (a number can stand for its "
            "question in --question), with which way is better and how many locations have "
            "data.")
    sub = command("states", "list the locations (of one question)",
                  "List every location of the data, or with --question only those with data "
                  "for that question.")
    sub.add_argument("--question", "-q", help="only the locations with data for this question")
    sub = command("jobs", "the jobs and their states",
                  "List the jobs the server knows and the state of each (running, done, error, "
                  "expired), in job order; --last N shows only the last N.")
    sub.add_argument("--last", type=_positive, metavar="N", help="only the last N jobs")
    command("num_jobs", "number of jobs queued or running",
            "Print how many jobs are queued or running on the server.")
    sub = command("result", "the result of an earlier job",
                  "Print the result of an earlier job as the table of its statistic, "
                  "waiting for it if it still runs. JOB_ID is job_id_7 or just 7.")
    sub.add_argument("job_id", metavar="JOB_ID", help="job_id_N, or N")
    sub.add_argument("--csv", action="store_true",
                     help="print the result as the server's CSV (?format=csv)")
    command("shutdown", "finish queued jobs, then stop the server",
            "Ask the server to stop gracefully: it refuses new jobs, finishes the queued "
            "ones, then exits.")
    return parser


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1, not {text!r}")
    return int(text)


def main(argv: Optional[List[str]] = None, stdout: TextIO = sys.stdout,
         stderr: TextIO = sys.stderr) -> int:
    try:  # argparse writes --help and its errors to sys.stdout and sys.stderr
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a bad command line (argparse said why)
        return stop.code if isinstance(stop.code, int) else 2
    if args.json and args.csv:
        stderr.write("statsd.client: error: --json and --csv are two answers; ask for one\n")
        return 2
    server = Server(args.server)
    progress = Progress(stderr, quiet=args.quiet)
    try:
        answer, text = run_command(server, args, progress)
    except ClientError as error:
        stderr.write(f"statsd.client: error: {error}\n")
        return error.exit_code
    stdout.write((json.dumps(answer) if args.json else text) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
