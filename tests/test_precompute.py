"""The results of every unfiltered request, computed at start.

The data never change while statsd runs, so it computes the answers of the
original API's requests (each statistic, question and state) before serving,
and a job for one of them is answered from the result cache the first time.
The requests are checked against the tests' oracle (``reference``, a plain
``csv`` pass over the sample); the answers against a server started with
``--no-precompute``, file for file.
"""

from __future__ import annotations

import os
import re
import tempfile
import unittest
from typing import Dict, Set

from support import SAMPLE_CSV, ServerProcess, run_statsd
import exposition
import reference

from statsd.ingest import load_csv
from statsd.jobs import JobManager, ResultStore
from statsd.request import JobRequest
from statsd.stats import STATISTICS, check_request, unfiltered_requests


def questions_and_places() -> Dict[str, Set[str]]:
    """question -> the locations with a value for it in the sample, from the tests' oracle."""
    return {question: set(reference.locations(question)) for question in reference.questions()}


def expected_count() -> int:
    places = questions_and_places()
    return sum(sum(len(locations) for locations in places.values()) if statistic.needs_state
               else len(places) for statistic in STATISTICS.values())


class UnfilteredRequestsTest(unittest.TestCase):
    """Which requests are computed ahead: every one a client of the original service can make."""

    def test_each_statistic_question_and_state_of_the_sample(self):
        dataset = load_csv(SAMPLE_CSV)
        requests = list(unfiltered_requests(dataset))
        places = questions_and_places()
        expected = set()
        for name, statistic in STATISTICS.items():
            for question, locations in places.items():
                for state in (sorted(locations) if statistic.needs_state else [None]):
                    expected.add((name, question, state))
        self.assertEqual(len(requests), len(expected))
        self.assertEqual({(r.endpoint, r.question, r.state) for r in requests}, expected)

    def test_each_is_the_request_its_body_validates_to(self):
        dataset = load_csv(SAMPLE_CSV)
        for request in unfiltered_requests(dataset):
            with self.subTest(request=request):
                body = request.to_json()
                self.assertEqual(set(body) - {"endpoint", "question", "state"}, set())
                self.assertEqual(check_request(dataset, STATISTICS[request.endpoint], body),
                                 request)


class FullCacheTest(unittest.TestCase):
    """A file with more results than the cache holds: precomputing stops when it is full."""

    def test_it_stops_and_says_so(self):
        with tempfile.TemporaryDirectory(prefix="statsd-precompute-") as directory:
            store = ResultStore(directory)
            jobs = JobManager(store, lambda request: {"state": request.state or "", "pad": "x" * 90},
                              workers=1, cache_bytes=1000)
            requests = [JobRequest("state_mean", "q", f"place {number}") for number in range(50)]
            with self.assertLogs("statsd.jobs", "INFO") as logged:
                computed, kept = jobs.precompute(requests)
            store.close()
        self.assertLess(computed, len(requests))
        self.assertLessEqual(kept, 1000)
        self.assertEqual(jobs.cache_bytes(), kept)
        self.assertIn(f"the result cache is full after {computed:,} results computed ahead",
                      "\n".join(logged.output))


class PrecomputedServerTest(unittest.TestCase):
    """``python3 -m statsd`` computes them at start, says so, and answers the same bytes."""

    def cache_bytes(self, server: ServerProcess) -> float:
        status, _, text = server.client().request("GET", "/api/metrics")
        self.assertEqual(status, 200)
        value = exposition.value(exposition.parse(text.decode()), "statsd_result_cache_bytes")
        assert value is not None  # the gauge is always there
        return value

    def test_results_are_computed_at_start_and_answer_as_without(self):
        with ServerProcess() as computed, ServerProcess("--no-precompute") as plain:
            self.assertEqual(self.cache_bytes(plain), 0)
            kept = self.cache_bytes(computed)
            self.assertGreater(kept, 0)
            line = re.search(r"computed the results of the ([0-9,]+) unfiltered requests ahead "
                             r"\(([0-9.]+) MB kept\)", computed.log_text())
            self.assertIsNotNone(line, computed.log_text())
            self.assertEqual(int(line.group(1).replace(",", "")), expected_count())
            self.assertAlmostEqual(float(line.group(2)), kept / 1e6, places=1)
            self.assertNotIn("ahead", plain.log_text())
            # One request of each statistic, to both: the same result file.
            places = questions_and_places()
            question = sorted(places)[0]
            state = sorted(places[question])[0]
            for name, statistic in STATISTICS.items():
                body = {"question": question, **({"state": state} if statistic.needs_state else {})}
                with self.subTest(statistic=name):
                    files = []
                    for server in (computed, plain):
                        client = server.client()
                        status, answer = client.post(name, body)
                        self.assertEqual(status, 200, answer)
                        self.assertEqual(client.wait_result(answer["job_id"])["status"], "done")
                        client.close()
                        with open(os.path.join(server.results, f"{answer['job_id']}.json"),
                                  "rb") as handle:
                            files.append(handle.read())
                    self.assertEqual(files[0], files[1])
            # Asking them added nothing: they were all kept at start.
            self.assertEqual(self.cache_bytes(computed), kept)

    def test_help_names_the_option(self):
        completed = run_statsd("--help", cwd=os.path.dirname(SAMPLE_CSV))
        self.assertEqual(completed.returncode, 0)
        self.assertIn("--no-precompute", completed.stdout)


if __name__ == "__main__":
    unittest.main()
