"""Command-line client: ``python3 -m statsd.client best5 --question "..."``.

Why: the original service was driven by hand with curl or Postman, which
means typing long question texts exactly and polling for results by hand.
This client submits a statistic, polls ``get_results`` (showing progress on
stderr), and prints the result as a table, or as the server's JSON with
``--json``.  A question may be given as its exact text, as its number in
``questions``, or as any piece of its text that names one question only.
It uses ``urllib.request`` alone, like the server uses the standard library.

Exit status: 0 on success; 1 when the server refuses or a job fails (the
server's reason is printed); 2 for a bad command line; 3 when the server
cannot be reached.
"""

from __future__ import annotations

import argparse
import http.client
import ast
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Sequence, TextIO, Tuple

from .stats import STATISTICS

DEFAULT_SERVER = "http://127.0.0.1:5000"
POLL_SECONDS = 0.2


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

    def request(self, method: str, path: str, body: Any = None) -> Tuple[int, Any]:
        """``(status, parsed JSON)``; ClientError if there is no answer or no JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json",
                                                  "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
            reason = getattr(error, "reason", error)
            raise ClientError(f"cannot reach {self.url}: {reason}", exit_code=3)
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

    def wait(self, job_id: str, deadline: float, progress: "Progress") -> Dict[str, Any]:
        """Poll ``get_results`` every 0.2 s until the job is no longer running."""
        started = time.monotonic()
        while True:
            # request(), not call(): a job that ended in error is an answer to show.
            status, answer = self.request("GET", f"/api/get_results/{urllib.parse.quote(job_id)}")
            if status >= 400 or not isinstance(answer, dict):
                reason = answer.get("reason") if isinstance(answer, dict) else answer
                raise ClientError(f"{job_id}: {reason} (HTTP {status})")
            elapsed = time.monotonic() - started
            if answer.get("status") != "running":
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
    """The exact question meant by ``text``: the text itself, a number, or a unique piece."""
    try:
        questions = [item["question"] for item in server.get("/api/questions")["data"]]
    except ClientError as error:
        if error.exit_code == 3:
            raise
        return text  # a server without /api/questions: send the text as it is
    if text in questions:
        return text
    if text.isascii() and text.isdigit() and 1 <= int(text) <= len(questions):
        return questions[int(text) - 1]
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


def result_table(statistic: str, data: Dict[str, Any]) -> str:
    """The ``data`` of a statistic as a readable table."""
    if statistic == "global_mean":
        return table([("global_mean", data["global_mean"])], ("", "mean"))
    if statistic == "mean_by_category":
        rows = [(*ast.literal_eval(key), mean) for key, mean in data.items()]
        return table(rows, ("location", "category", "stratification", "mean"))
    if statistic == "state_mean_by_category":
        ((state, groups),) = data.items()
        rows = [(*ast.literal_eval(key), mean) for key, mean in groups.items()]
        return f"{state}\n" + table(rows, ("category", "stratification", "mean"))
    value = "global mean - mean" if "diff" in statistic else "mean"
    if statistic in ("best5", "worst5"):
        return table([(rank, location, mean) for rank, (location, mean)
                      in enumerate(data.items(), 1)], ("rank", "location", value))
    return table(list(data.items()), ("location", value))


# -- the commands -------------------------------------------------------------------


def run_statistic(server: Server, args: argparse.Namespace, progress: Progress) -> Tuple[Any, str]:
    statistic = STATISTICS[args.command]
    question = resolve_question(server, args.question)
    body = {"question": question}
    if statistic.needs_state:
        body["state"] = resolve_state(server, question, args.state)
    job_id = server.call("POST", f"/api/{args.command}", body)["job_id"]
    progress.submitted(job_id, args.command)
    answer = server.wait(job_id, args.wait, progress)
    if answer.get("status") != "done":
        raise ClientError(f"{job_id}: {answer.get('reason', answer)}")
    return answer, f"{question}\n" + result_table(args.command, answer["data"])


def run_command(server: Server, args: argparse.Namespace, progress: Progress) -> Tuple[Any, str]:
    """``(JSON answer, readable text)`` of the command in ``args``."""
    command = args.command
    if command in STATISTICS:
        return run_statistic(server, args, progress)
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
        answer = server.get("/api/jobs")
        rows = [next(iter(entry.items())) for entry in answer["data"]]
        return answer, table(rows, ("job", "state")) if rows else "no jobs yet"
    if command == "num_jobs":
        answer = server.get("/api/num_jobs")
        return answer, f"{answer['num_jobs']} jobs queued or running"
    if command == "result":
        status, answer = server.request("GET", f"/api/get_results/{urllib.parse.quote(args.job_id)}")
        if status >= 400 or answer.get("status") == "error":
            raise ClientError(f"{args.job_id}: {answer.get('reason', answer)} (HTTP {status})")
        return answer, json.dumps(answer.get("data"), indent=2) if answer["status"] == "done" \
            else f"{args.job_id}: {answer['status']}"
    if command == "shutdown":
        answer = server.call("POST", "/api/graceful_shutdown", {})
        text = {"done": "no jobs left: the server is stopping",
                "shutting down": "the server finishes its queued jobs, then stops"}
        return answer, text.get(answer.get("status"), str(answer))
    raise ClientError(f"unknown command {command!r}", exit_code=2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m statsd.client",
        description="Ask a statsd server for statistics of the BRFSS data.",
        epilog="A --question may be its exact text, its number in 'questions', or a piece "
               "of its text that matches one question only (e.g. 'obesity'). Exit status: "
               "0 ok, 1 refused or failed (the server's reason is printed), 2 bad usage, "
               "3 server unreachable.")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="statsd URL (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the server's JSON answer as it is")
    parser.add_argument("--wait", type=float, default=300.0,
                        help="seconds to wait for a job (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, statistic in STATISTICS.items():
        sub = commands.add_parser(name, help=statistic.summary)
        sub.add_argument("--question", "-q", required=True)
        if statistic.needs_state:
            sub.add_argument("--state", "-s", required=True, help="a location, e.g. Ohio")
    commands.add_parser("questions", help="list the questions, numbered")
    sub = commands.add_parser("states", help="list the locations (of one question)")
    sub.add_argument("--question", "-q")
    commands.add_parser("jobs", help="every job and its state")
    commands.add_parser("num_jobs", help="number of jobs queued or running")
    sub = commands.add_parser("result", help="the result of an earlier job")
    sub.add_argument("job_id")
    commands.add_parser("shutdown", help="finish queued jobs, then stop the server")
    return parser


def main(argv: Optional[List[str]] = None, stdout: TextIO = sys.stdout,
         stderr: TextIO = sys.stderr) -> int:
    args = build_parser().parse_args(argv)
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
