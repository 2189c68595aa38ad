"""Command line: ``python3 -m statsd`` loads the CSV and serves the API.

Why a module of its own: the server, the jobs and the statistics know nothing
of argv, environment variables, signals or exit codes; this is where those are
turned into objects, and where every start-up failure becomes one clear line
on stderr and a non-zero exit instead of a traceback.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import time
from typing import List, Optional

from . import __version__, assets, logs
from .app import App, Config, StartupError
from .retention import parse_duration
from .server import StatsServer

log = logging.getLogger("statsd")



class UsageError(StartupError):
    """A command-line or environment setting that cannot be used."""


def default_threads() -> int:
    """``TP_NUM_OF_THREADS`` if set, else the number of CPUs."""
    text = os.environ.get("TP_NUM_OF_THREADS", "").strip()
    if not text:
        return os.cpu_count() or 1
    try:
        return whole_number(text, 1)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"TP_NUM_OF_THREADS: {error}")


def whole_number(text: str, low: int, high: Optional[int] = None) -> int:
    """``text`` as a whole number from ``low`` to ``high``, else an argparse error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    if high is not None and not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be from {low} to {high}: {value}")
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}: {value}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1)


def port_number(text: str) -> int:
    return whole_number(text, 0, 65535)


def number(text: str) -> float:
    """``text`` as a number, else an argparse error (the bounds are the caller's)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")


def non_negative_float(text: str) -> float:
    value = number(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def positive_float(text: str) -> float:
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text}")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show each option's default, except those worked out at run time (None)."""

    def _get_help_string(self, action: argparse.Action) -> Optional[str]:
        if action.default is None:
            return action.help or ""
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statsd",
        description="Serve statistics of the BRFSS nutrition, physical activity and "
                    "obesity CSV over an asynchronous JSON job API.",
        epilog="Environment: TP_NUM_OF_THREADS sets the number of worker threads "
               "(overridden by --threads). Stop with Ctrl-C, SIGTERM or "
               "GET /api/graceful_shutdown: queued jobs finish, then it exits 0.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port_number, default=5000, help="port to listen on (0: any free port)")
    parser.add_argument("--data", default=None,
                        help="the BRFSS CSV file to serve (default: the sample that comes "
                             "with statsd, data/brfss_sample.csv beside the package or "
                             "inside statsd.pyz)")
    parser.add_argument("--results", default="results",
                        help="directory of job results (kept across restarts)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="worker threads (default: TP_NUM_OF_THREADS, else the CPU count)")
    parser.add_argument("--log-file", default="webserver.log",
                        help="rotating log file ('' for none)")
    parser.add_argument("--log-flush", type=non_negative_float, default=logs.FLUSH_SECONDS, metavar="SECONDS",
                        help="longest a log line waits to be written with the next ones, in "
                             "one write (0: each line at once); WARNING and ERROR lines, and "
                             "every line at a clean stop, are written at once")
    parser.add_argument("--max-queue", type=positive_int, default=10000,
                        help="jobs that may wait in the queue; past it a POST gets 503")
    parser.add_argument("--timeout", type=positive_float, default=10.0,
                        help="seconds for a request head, for its body, and for the next "
                             "request on a kept-alive connection")
    parser.add_argument("--max-connections", type=positive_int, default=None,
                        help="open connections; past it a new one gets 503 at once "
                             "(default: 4096, or fewer within the process's file limit)")
    parser.add_argument("--handler-threads", type=positive_int, default=None,
                        help="threads answering requests; a request that finds none free "
                             "within 0.5 s gets 503 (default: 16 per CPU, from 16 to 64)")
    parser.add_argument("--cors", action="store_true",
                        help="allow cross-origin use: Access-Control-Allow-Origin: * on every "
                             "answer, and OPTIONS preflights answered")
    parser.add_argument("--results-ttl", type=parse_duration, default=None, metavar="AGE",
                        help="delete results older than AGE (e.g. 3600, 30m, 12h, 7d); "
                             "their jobs then answer 'expired' (default: keep them forever)")
    parser.add_argument("--no-precompute", dest="precompute", action="store_false",
                        help="do not compute the results of every unfiltered request at start "
                             "(by default they are, in well under a second, and kept in the "
                             "result cache)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--version", action="version", version=f"statsd {__version__}")
    return parser


class ConsoleProgress:
    """Rows and percent of the file read, on one stderr line, for large files."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False
        self.last = 0.0

    def __call__(self, rows: int, done: int, total: int) -> None:
        if not self.enabled or total < 8 * 1024 * 1024:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return  # at most ten updates a second
        self.last = now
        percent = 100.0 * min(done, total) / total
        sys.stderr.write(f"\rstatsd: loading: {rows:,} rows, {percent:5.1f}% of the file")
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return serve(args)
    except StartupError as error:
        print(f"statsd: error: {error}", file=sys.stderr)
        return error.status
    finally:
        logging.shutdown()


def serve(args: argparse.Namespace) -> int:
    threads = args.threads or default_threads()
    say = (lambda text: None) if args.quiet else (lambda text: print(f"statsd: {text}", flush=True))
    try:
        log_output = logs.configure(args.log_file or None, flush_seconds=args.log_flush)
    except OSError as error:
        raise UsageError(f"cannot open log file {args.log_file}: {error.strerror or error}")
    try:
        return _serve(args, threads, say)
    except StartupError as error:
        log.error("%s", error)  # in webserver.log too
        raise
    finally:
        if log_output is not None:
            log_output.stop()


def build_config(args: argparse.Namespace, threads: int) -> Config:
    """The application's settings from the command line (one line per setting)."""
    return Config(
        data=assets.sample() if args.data is None else args.data,
        results=args.results,
        host=args.host,
        port=args.port,
        threads=threads,
        max_queue=args.max_queue,
        results_ttl=args.results_ttl,
        precompute=args.precompute,
        server_options={
            "request_timeout": args.timeout,
            "max_connections": args.max_connections,
            "handler_threads": args.handler_threads,
            "cors": args.cors,
        },
    )


def _serve(args: argparse.Namespace, threads: int, say) -> int:
    # Until the server runs, Ctrl-C and SIGTERM stop statsd at once (a large
    # file takes a while to load): one line, exit 0, no traceback.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    progress = ConsoleProgress(enabled=not args.quiet and sys.stderr.isatty())
    try:
        try:
            app = App(build_config(args, threads), progress=progress)
        finally:
            progress.finish()
    except KeyboardInterrupt:
        print("statsd: stopped before serving", file=sys.stderr)
        log.info("stopped before serving")
        return 0
    say(app.dataset.summary())
    if any(app.recovered.values()):
        say(app.recovery_summary())
    _install_signal_handlers(app.server)
    # What start-up built (the dataset's sums above all) lives as long as the
    # process.  Moved out of the cyclic collector's reach, it is no longer
    # walked by each full collection: a walk of 9 ms at 10,000 rows and 10-14 ms
    # at 100,000 (gc.collect() after load_csv), a pause for every request in
    # flight, at moments that depend on how the threads interleave.  Under
    # cachegrind, one such collection (about 20 M instructions) happened in
    # some runs of 330 requests and not in others; with the freeze, five
    # runs agree within 0.1 %.  Objects made later are collected as before.
    gc.collect()
    gc.freeze()
    app.start()
    log.info("serving on %s with %d worker threads, results in %s", app.url, threads, app.store.directory)
    say(f"serving on {app.url} with {threads} worker threads (Ctrl-C to stop)")
    started = time.monotonic()
    # The accept loop sees a finished shutdown at its next poll: 0.05 s keeps an
    # exit prompt, for 20 empty wake-ups a second while idle.
    app.serve_forever(poll_interval=0.05)
    log.info("stopped after %.1f s", time.monotonic() - started)
    say("stopped")
    return 0


def _install_signal_handlers(server: StatsServer) -> None:
    def on_signal(number, frame) -> None:
        name = signal.Signals(number).name
        if server.shutting_down and number == signal.SIGINT:
            log.warning("second SIGINT: exiting without waiting for jobs")
            os._exit(130)
        server.begin_shutdown(name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


if __name__ == "__main__":
    sys.exit(main())
