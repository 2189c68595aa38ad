"""get_results beyond the original: CSV, ``?wait=``, ETag and 304, Cache-Control; /api/years.

Why: each is a promise a client builds on -- a spreadsheet import that must
split the same rows as the JSON, a script that waits in one request instead
of polling, a browser or proxy that revalidates instead of downloading again
and never stores an answer that can change.  All are checked over HTTP
against the real server; waiting is checked on a job held by a slow
statistic (tests/inprocess.py's HeldCompute), with no timing threshold.
"""

from __future__ import annotations

import ast
import csv
import io
import shutil
import tempfile
import threading
import unittest
from urllib.parse import urlencode

import reference
from inprocess import HeldCompute, InProcessServer
from support import OBESITY, ServedTestCase

from statsd.stats import STATISTICS

FILTERS = {"year_from": 2014, "category": "Income"}


def csv_rows(raw: bytes):
    return list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))


class ResultsAsCsvTest(ServedTestCase):
    def job(self, endpoint: str, **extra) -> str:
        body = dict(question=OBESITY, **extra)
        if STATISTICS[endpoint].needs_state:
            body["state"] = "Ohio"
        status, answer = self.client.post(endpoint, body)
        self.assertEqual(status, 200, answer)
        self.assertEqual(self.client.wait_result(answer["job_id"])["status"], "done")
        return answer["job_id"]

    def get(self, path: str, **headers):
        return self.client.request("GET", path, headers=headers)

    def test_csv_of_every_statistic_is_its_json_answer(self):
        columns = {"states_mean": "mean", "state_mean": "mean", "best5": "mean",
                   "worst5": "mean", "diff_from_mean": "difference",
                   "state_diff_from_mean": "difference"}
        for extra in ({}, FILTERS):
            for endpoint in STATISTICS:
                with self.subTest(endpoint=endpoint, filters=extra):
                    job_id = self.job(endpoint, **extra)
                    status, _, answer = self.get(f"/api/get_results/{job_id}")
                    data = answer["data"]
                    for path, headers in ((f"/api/get_results/{job_id}?format=csv", {}),
                                          (f"/api/get_results/{job_id}", {"Accept": "text/csv"})):
                        status, head, raw = self.get(path, **headers)
                        self.assertEqual(status, 200)
                        self.assertEqual(head["Content-Type"], "text/csv; charset=utf-8")
                        rows = csv_rows(raw)
                        if endpoint == "global_mean":
                            self.assertEqual(rows, [["global_mean"], [repr(data["global_mean"])]])
                        elif endpoint == "mean_by_category":
                            self.assertEqual(rows[0], ["location", "category", "stratification",
                                                       "mean"])
                            self.assertEqual([tuple(row[:3]) for row in rows[1:]],
                                             [ast.literal_eval(key) for key in data])
                            self.assertEqual([float(row[3]) for row in rows[1:]],
                                             list(data.values()))
                        elif endpoint == "state_mean_by_category":
                            self.assertEqual(rows[0], ["location", "category", "stratification",
                                                       "mean"])
                            groups = data["Ohio"]
                            self.assertEqual([row[0] for row in rows[1:]], ["Ohio"] * len(groups))
                            self.assertEqual([tuple(row[1:3]) for row in rows[1:]],
                                             [ast.literal_eval(key) for key in groups])
                            self.assertEqual([float(row[3]) for row in rows[1:]],
                                             list(groups.values()))
                        else:
                            # The job's statistic is known to this run: its own column name.
                            self.assertEqual(rows[0], ["location", columns[endpoint]])
                            self.assertEqual([(row[0], float(row[1])) for row in rows[1:]],
                                             list(data.items()))

    def test_format_json_accept_json_and_bad_formats(self):
        job_id = self.job("best5")
        status, head, answer = self.get(f"/api/get_results/{job_id}?format=json",
                                        Accept="text/csv")
        self.assertEqual((status, answer["status"]), (200, "done"))
        for accept in ("application/json", "*/*", "text/html,application/xhtml+xml,*/*;q=0.8",
                       "application/json, text/csv;q=0.5", "text/csv;q=0"):
            with self.subTest(accept=accept):
                status, head, answer = self.get(f"/api/get_results/{job_id}", Accept=accept)
                self.assertEqual(head["Content-Type"], "application/json")
                self.assertEqual(answer["status"], "done")
        status, head, raw = self.get(f"/api/get_results/{job_id}",
                                     Accept="text/csv, application/json;q=0.9")
        self.assertEqual(head["Content-Type"], "text/csv; charset=utf-8")
        for value in ("xml", "CSV", "csv,json"):
            with self.subTest(format=value):
                status, _, answer = self.get(f"/api/get_results/{job_id}?" + urlencode(
                    {"format": value}))
                self.assertEqual(status, 400)
                self.assertIn("parameter 'format' takes json or csv", answer["reason"])
        # An unknown job is the same 404 in either format.
        status, _, answer = self.get("/api/get_results/job_id_999999?format=csv")
        self.assertEqual((status, answer), (404, {"status": "error", "reason": "Invalid job_id"}))

    # -- caching ---------------------------------------------------------------------

    def test_etag_and_304_round_trip(self):
        job_id = self.job("states_mean", **FILTERS)
        path = f"/api/get_results/{job_id}"
        status, head, answer = self.get(path)
        etag = head["ETag"]
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')  # strong: no W/
        self.assertEqual(head["Cache-Control"], "no-cache")
        # The same bytes again: the same tag; a client that has them gets 304, no body.
        status, again, _ = self.get(path)
        self.assertEqual(again["ETag"], etag)
        for header in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
            with self.subTest(if_none_match=header):
                status, head, raw = self.get(path, **{"If-None-Match": header})
                self.assertEqual(status, 304)
                self.assertEqual(raw, b"")
                self.assertEqual(head["ETag"], etag)
                self.assertEqual(head["Cache-Control"], "no-cache")
        status, _, answer = self.get(path, **{"If-None-Match": '"0000"'})
        self.assertEqual((status, answer["status"]), (200, "done"))
        # Another representation, another tag; its own 304.
        status, head, _ = self.get(path + "?format=csv")
        self.assertNotEqual(head["ETag"], etag)
        status, _, raw = self.get(path + "?format=csv", **{"If-None-Match": head["ETag"]})
        self.assertEqual((status, raw), (304, b""))
        # Another result, another tag.
        other = self.job("states_mean")
        status, head, _ = self.get(f"/api/get_results/{other}")
        self.assertNotEqual(head["ETag"], etag)

    def test_answers_that_can_change_are_not_stored(self):
        for path in ("/api/jobs", "/api/jobs?last=2", "/api/num_jobs",
                     "/api/get_results/job_id_999999"):
            with self.subTest(path=path):
                _, head, _ = self.get(path)
                self.assertEqual(head["Cache-Control"], "no-store")
                self.assertNotIn("ETag", head)

    # -- discovery -------------------------------------------------------------------

    def test_years_of_a_question_and_a_state(self):
        years = reference.year_means()
        for question in reference.questions():
            with self.subTest(question=question[:40]):
                status, _, answer = self.get("/api/years?" + urlencode({"question": question}))
                self.assertEqual(status, 200)
                self.assertEqual(answer["data"], sorted({year for (q, _, year) in years
                                                         if q == question}))
        status, _, answer = self.get("/api/years?" + urlencode({"question": OBESITY,
                                                                "state": "oh"}))
        self.assertEqual(answer["data"], sorted({year for (q, place, year) in years
                                                 if q == OBESITY and place == "Ohio"}))
        for query, reason in (("", "missing parameter 'question'"),
                              ("question=nope", "unknown question 'nope'"),
                              (urlencode({"question": OBESITY, "state": "Atlantis"}),
                               "unknown state 'Atlantis'"),
                              (urlencode({"question": OBESITY, "year": "2011"}),
                               "unknown parameter 'year'")):
            with self.subTest(query=query):
                status, _, answer = self.get("/api/years?" + query)
                self.assertEqual(status, 400)
                self.assertIn(reason, answer["reason"])

    def test_openapi_documents_the_new_parameters(self):
        status, _, document = self.get("/api/openapi.json")
        results = document["paths"]["/api/get_results/{job_id}"]["get"]
        names = {parameter["name"] for parameter in results["parameters"]}
        self.assertEqual(names, {"job_id", "format", "wait"})
        self.assertIn("text/csv", results["responses"]["200"]["content"])
        self.assertIn("304", results["responses"])
        self.assertIn("/api/years", document["paths"])
        states = document["paths"]["/api/states"]["get"]
        self.assertIn("with", {parameter["name"] for parameter in states["parameters"]})
        body = document["paths"]["/api/best5"]["post"]["requestBody"]["content"][
            "application/json"]["schema"]
        self.assertEqual(set(body["properties"]),
                         {"question", "year_from", "year_to", "category", "stratification"})


class CsvAfterRestartTest(unittest.TestCase):
    def test_result_of_an_earlier_run(self):
        """Its file holds the data only: the rows are the same, a flat result's column is "value"."""
        directory = tempfile.mkdtemp(prefix="statsd-csv-restart-")
        self.addCleanup(shutil.rmtree, directory, True)
        with InProcessServer(directory=directory) as first:
            client = first.client()
            ids = {endpoint: client.post(endpoint, {"question": OBESITY})[1]["job_id"]
                   for endpoint in ("best5", "diff_from_mean", "mean_by_category")}
            data = {endpoint: client.wait_result(job_id)["data"] for endpoint, job_id in ids.items()}
            client.close()
        with InProcessServer(directory=directory) as second:
            client = second.client()
            for endpoint, job_id in ids.items():
                with self.subTest(endpoint=endpoint):
                    status, head, raw = client.request(
                        "GET", f"/api/get_results/{job_id}?format=csv")
                    self.assertEqual(status, 200)
                    rows = csv_rows(raw)
                    if endpoint == "mean_by_category":
                        self.assertEqual(rows[0], ["location", "category", "stratification",
                                                   "mean"])
                        self.assertEqual(len(rows) - 1, len(data[endpoint]))
                    else:
                        self.assertEqual(rows[0], ["location", "value"])
                        self.assertEqual([(row[0], float(row[1])) for row in rows[1:]],
                                         list(data[endpoint].items()))
            client.close()


class WaitTest(unittest.TestCase):
    """``?wait=S`` on a job held by a slow statistic."""

    def setUp(self):
        self.held = HeldCompute()
        self.server = InProcessServer(self.held, workers=1).start()
        self.addCleanup(self.server.stop)
        self.addCleanup(self.held.release.set)
        self.client = self.server.client()
        self.addCleanup(self.client.close)

    def submit(self, **extra) -> str:
        status, answer = self.client.post("global_mean", dict(question=OBESITY, **extra))
        self.assertEqual(status, 200, answer)
        return answer["job_id"]

    def test_wait_returns_done_when_the_job_ends(self):
        job_id = self.submit(year_from=2015)
        self.assertTrue(self.held.started.wait(10))
        answers = []

        def wait_for_it():
            client = self.server.client(timeout=40)
            try:
                answers.append(client.request("GET", f"/api/get_results/{job_id}?wait=30"))
            finally:
                client.close()

        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        # While the job is held, a plain poll says running (and a CSV request too).
        status, head, answer = self.client.request("GET", f"/api/get_results/{job_id}")
        self.assertEqual((status, answer), (200, {"status": "running"}))
        self.assertEqual(head["Cache-Control"], "no-store")
        status, head, answer = self.client.request("GET",
                                                   f"/api/get_results/{job_id}?format=csv")
        self.assertEqual((status, answer, head["Content-Type"]),
                         (200, {"status": "running"}, "application/json"))
        self.held.release.set()
        waiter.join(40)
        self.assertFalse(waiter.is_alive())
        (status, head, answer), = answers
        self.assertEqual(status, 200)
        self.assertEqual(answer["status"], "done")
        self.assertIn("global_mean", answer["data"])
        self.assertIn("ETag", head)

    def test_a_short_wait_on_a_held_job_answers_running(self):
        job_id = self.submit()
        self.assertTrue(self.held.started.wait(10))
        status, _, answer = self.client.request("GET", f"/api/get_results/{job_id}?wait=0.3")
        self.assertEqual((status, answer), (200, {"status": "running"}))
        status, _, answer = self.client.request("GET", f"/api/get_results/{job_id}?wait=0")
        self.assertEqual((status, answer), (200, {"status": "running"}))

    def test_bad_waits(self):
        job_id = self.submit()
        for value in ("-1", "30.5", "31", "abc", "nan", "inf", "1e1", "", " 2", "0x10"):
            with self.subTest(wait=value):
                status, _, answer = self.client.request(
                    "GET", f"/api/get_results/{job_id}?" + urlencode({"wait": value}))
                if value == "":  # an empty value is no value: answered as without it
                    self.assertEqual(status, 200)
                    continue
                self.assertEqual(status, 400, answer)
                self.assertIn("parameter 'wait' must be a number of seconds from 0 to 30",
                              answer["reason"])
        # A done job is answered at once, whatever the wait.
        self.held.release.set()
        self.assertEqual(self.client.wait_result(job_id)["status"], "done")
        status, _, answer = self.client.request("GET", f"/api/get_results/{job_id}?wait=30")
        self.assertEqual(answer["status"], "done")


if __name__ == "__main__":
    unittest.main()
