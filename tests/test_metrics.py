"""statsd.metrics: what it renders is the Prometheus text format, with the numbers recorded.

Why: a metric a scraper cannot parse, or whose numbers drift from what
happened, is worse than none.  The rendering is read back with the strict
parser in tests/exposition.py (written from the format's description, not
from statsd's code) and compared with counts kept independently here.
"""

import json
import math
import os
import random
import threading
import time
import unittest

import exposition
from support import OBESITY, ServerProcess

from statsd import metrics
from statsd.request import JobRequest


class RegistryTest(unittest.TestCase):
    def test_counters_gauges_and_histograms_read_back_as_recorded(self):
        registry = metrics.Registry()
        requests = registry.counter("statsd_test_requests_total", "requests", ("route", "code"))
        open_now = registry.gauge("statsd_test_open", "open now")
        pending = [7]
        registry.gauge_function("statsd_test_pending", "pending", lambda: pending[0])
        durations = registry.histogram("statsd_test_duration_seconds", "durations", ("route",),
                                       buckets=(0.001, 0.01, 0.1, 1.0))
        generator = random.Random(13)
        expected_counts = {}
        observed = {"/a": [], "/b": []}
        for _ in range(500):
            route = generator.choice(["/a", "/b"])
            code = generator.choice(["200", "404"])
            requests.inc((route, code))
            expected_counts[(route, code)] = expected_counts.get((route, code), 0) + 1
            seconds = generator.choice([0.0005, 0.001, 0.003, 0.05, 0.5, 3.0])
            durations.observe(seconds, (route,))
            observed[route].append(seconds)
        for _ in range(5):
            open_now.inc()
        open_now.dec()
        pending[0] = 11

        families = exposition.parse(registry.render())
        self.assertEqual(families["statsd_test_requests_total"].type, "counter")
        self.assertEqual(families["statsd_test_requests_total"].help, "requests")
        for (route, code), count in expected_counts.items():
            self.assertEqual(exposition.value(families, "statsd_test_requests_total",
                                              route=route, code=code), count)
        self.assertEqual(exposition.value(families, "statsd_test_open"), 4)
        self.assertEqual(exposition.value(families, "statsd_test_pending"), 11)
        self.assertEqual(families["statsd_test_duration_seconds"].type, "histogram")
        for route, values in observed.items():
            for bound in ("0.001", "0.01", "0.1", "1", "+Inf"):
                limit = math.inf if bound == "+Inf" else float(bound)
                at_or_below = sum(1 for seconds in values if seconds <= limit)
                self.assertEqual(exposition.value(families, "statsd_test_duration_seconds_bucket",
                                                  route=route, le=bound), at_or_below, bound)
            self.assertEqual(exposition.value(families, "statsd_test_duration_seconds_count",
                                              route=route), len(values))
            self.assertAlmostEqual(exposition.value(families, "statsd_test_duration_seconds_sum",
                                                    route=route), sum(values))

    def test_label_values_and_help_are_escaped(self):
        registry = metrics.Registry()
        counter = registry.counter("statsd_test_total", 'help with \\ and\na line feed', ("path",))
        awkward = 'a "quoted" \\ path\nwith a line feed'
        counter.inc((awkward,), 2)
        text = registry.render()
        self.assertEqual(text.count("\n"), 3)  # HELP, TYPE, one sample: nothing split
        families = exposition.parse(text)
        self.assertEqual(families["statsd_test_total"].help, 'help with \\ and\na line feed')
        self.assertEqual(exposition.value(families, "statsd_test_total", path=awkward), 2)

    def test_recording_from_many_threads_loses_nothing(self):
        registry = metrics.Registry()
        counter = registry.counter("statsd_test_total", "count", ("kind",))
        histogram = registry.histogram("statsd_test_seconds", "seconds")

        def record(_):
            for number in range(2000):
                counter.inc(("odd" if number % 2 else "even",))
                histogram.observe(number / 1000)

        threads = [threading.Thread(target=record, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        families = exposition.parse(registry.render())
        self.assertEqual(exposition.value(families, "statsd_test_total", kind="odd"), 8000)
        self.assertEqual(exposition.value(families, "statsd_test_total", kind="even"), 8000)
        self.assertEqual(exposition.value(families, "statsd_test_seconds_count"), 16000)
        bounds = metrics.DURATION_BUCKETS
        expected = 8 * sum(1 for number in range(2000) if number / 1000 <= bounds[-1])
        self.assertEqual(exposition.value(families, "statsd_test_seconds_bucket",
                                          le=metrics.format_value(bounds[-1])), expected)

    def test_names_follow_the_naming_rules(self):
        registry = metrics.Registry()
        for bad in (lambda: registry.counter("statsd_requests", "no _total"),
                    lambda: registry.gauge("2bad", "starts with a digit"),
                    lambda: registry.gauge("statsd_x", "reserved label", ("__x",)),
                    lambda: registry.histogram("statsd_y_seconds", "le is the bucket's", ("le",))):
            with self.assertRaises(ValueError):
                bad()
        registry.gauge("statsd_once", "x")
        with self.assertRaises(ValueError):
            registry.gauge("statsd_once", "x")
        counter = registry.counter("statsd_z_total", "z", ("a",))
        with self.assertRaises(ValueError):
            counter.inc(("one", "two"))
        with self.assertRaises(ValueError):
            counter.inc(("one",), -1)

    def test_server_metrics_names_carry_the_prefix_and_units(self):
        server = metrics.ServerMetrics("9.9.9", started=1700000000.5)
        server.request_done("/api/jobs", 200, 0.002)
        server.job_finished(JobRequest("best5", OBESITY), "done", 0.01)
        server.gauge_function("statsd_jobs_pending", "jobs queued or running", lambda: 0)
        families = exposition.parse(server.render())
        for name, family in families.items():
            self.assertTrue(name.startswith("statsd_"), name)
            if family.type == "counter":
                self.assertTrue(name.endswith("_total"), name)
            if family.type == "histogram":
                self.assertTrue(name.endswith("_seconds"), name)
        self.assertEqual(exposition.value(families, "statsd_process_start_time_seconds"),
                         1700000000.5)
        self.assertEqual(exposition.value(families, "statsd_build_info", version="9.9.9"), 1)
        self.assertEqual(exposition.value(families, "statsd_http_requests_total",
                                          route="/api/jobs", code="200"), 1)
        self.assertEqual(exposition.value(families, "statsd_jobs_total",
                                          statistic="best5", outcome="done"), 1)


class ParserTest(unittest.TestCase):
    """The parser the tests rely on refuses what a scraper would."""

    def test_it_refuses_broken_expositions(self):
        good = ("# HELP x_seconds d\n# TYPE x_seconds histogram\n"
                'x_seconds_bucket{le="1"} 1\nx_seconds_bucket{le="+Inf"} 2\n'
                "x_seconds_sum 1.5\nx_seconds_count 2\n")
        self.assertIn("x_seconds", exposition.parse(good))
        broken = {
            "no final line feed": "# TYPE a gauge\na 1",
            "bad value": "# TYPE a gauge\na one\n",
            "bad escape": '# TYPE a gauge\na{l="\\t"} 1\n',
            "TYPE after samples": "a 1\n# TYPE a gauge\n",
            "split family": "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{l=\"x\"} 2\n",
            "series twice": "# TYPE a gauge\na 1\na 2\n",
            "negative counter": "# TYPE a_total counter\na_total -1\n",
            "no +Inf": '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
            "not cumulative": ('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n'
                               "h_sum 1\nh_count 1\n"),
            "+Inf is not count": ('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\n'
                                  "h_count 3\n"),
            "bad name": "# TYPE 1a gauge\n",
            "unquoted label": "# TYPE a gauge\na{l=x} 1\n",
        }
        for why, text in broken.items():
            with self.subTest(why=why):
                with self.assertRaises(exposition.ExpositionError):
                    exposition.parse(text)

    def test_a_value_equal_to_a_bound_counts_in_that_bucket(self):
        registry = metrics.Registry()
        histogram = registry.histogram("statsd_t_seconds", "t", buckets=(0.1, 1.0))
        for seconds in (0.1, 0.2, 1.0, 5.0):
            histogram.observe(seconds)
        families = exposition.parse(registry.render())
        self.assertEqual([exposition.value(families, "statsd_t_seconds_bucket", le=bound)
                          for bound in ("0.1", "1", "+Inf")], [1, 3, 4])

if __name__ == "__main__":
    unittest.main()


class ServedMetricsTest(unittest.TestCase):
    """``GET /api/metrics`` of the real server, against the requests this test made."""

    def test_a_scrape_counts_what_was_asked(self):
        started = time.time()
        # --no-precompute: the result cache then holds only what this test asks.
        with ServerProcess("--threads", "1", "--no-precompute") as server:
            for kind in ("json", "error"):  # job_id_3's outcome lands on a full disk
                os.symlink("/dev/full", os.path.join(server.results, f".job_id_3.{kind}.tmp"))
            client = server.client()  # one keep-alive connection throughout
            ids = [client.post("best5", {"question": OBESITY})[1]["job_id"],
                   client.post("best5", {"question": OBESITY})[1]["job_id"],
                   client.post("global_mean", {"question": OBESITY})[1]["job_id"]]
            self.assertEqual(client.post("best5", {"question": "no such"})[0], 400)
            polls = {}
            for job_id in ids:
                while True:
                    status, answer = client.get(f"/api/get_results/{job_id}")
                    polls[status] = polls.get(status, 0) + 1
                    if answer["status"] != "running":
                        break
                    time.sleep(0.05)
            best5 = client.wait_result(ids[0])["data"]
            # global_mean again, as job_id_4: its result (kept from job_id_3) is written this time.
            again = client.run("global_mean", {"question": OBESITY})
            polls[200] += 2
            self.assertEqual(client.get("/api/get_results/job_id_99")[0], 404)
            self.assertEqual(client.get("/no/such/path")[0], 404)
            for _ in range(3):
                self.assertEqual(client.get("/api/num_jobs")[0], 200)
            status, headers, text = client.request("GET", "/api/metrics")
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], metrics.CONTENT_TYPE)
            families = exposition.parse(text.decode("utf-8"))
            second = exposition.parse(client.request("GET", "/api/metrics")[2].decode())
            client.close()

        def requests(route, code):
            return exposition.value(families, "statsd_http_requests_total", route=route,
                                    code=str(code)) or 0

        self.assertEqual(requests("/api/best5", 200), 2)
        self.assertEqual(requests("/api/best5", 400), 1)
        self.assertEqual(requests("/api/global_mean", 200), 2)
        self.assertEqual(requests("/api/get_results/{job_id}", 200), polls[200])
        self.assertEqual(requests("/api/get_results/{job_id}", 404), 1)
        self.assertEqual(requests("/api/num_jobs", 200), 3)
        self.assertEqual(requests("unknown", 404), 1)  # never the path asked
        total = sum(sample.value for sample in families["statsd_http_requests_total"].samples)
        self.assertEqual(total, 4 + 1 + polls[200] + 1 + 1 + 3)  # the scrape counts afterwards
        for route in ("/api/best5", "/api/num_jobs"):
            counted = sum(sample.value for sample in families["statsd_http_requests_total"].samples
                          if sample.labels["route"] == route)
            self.assertEqual(exposition.value(families, "statsd_http_request_duration_seconds_count",
                                              route=route), counted)
        self.assertEqual(requests("/api/metrics", 200), 0)
        self.assertEqual(exposition.value(second, "statsd_http_requests_total",
                                          route="/api/metrics", code="200"), 1)

        self.assertEqual(exposition.value(families, "statsd_jobs_total", statistic="best5",
                                          outcome="done"), 2)
        self.assertEqual(exposition.value(families, "statsd_jobs_total", statistic="global_mean",
                                          outcome="error"), 1)
        self.assertEqual(exposition.value(families, "statsd_job_duration_seconds_count",
                                          statistic="best5"), 2)
        self.assertEqual(exposition.value(families, "statsd_jobs_total", statistic="global_mean",
                                          outcome="done"), 1)
        self.assertEqual(exposition.value(families, "statsd_job_duration_seconds_count",
                                          statistic="global_mean"), 2)
        self.assertEqual(exposition.value(families, "statsd_jobs_pending"), 0)
        self.assertEqual(exposition.value(families, "statsd_http_connections_open"), 1)
        # One encoded result kept per distinct request: best5's and global_mean's.
        self.assertEqual(exposition.value(families, "statsd_result_cache_bytes"),
                         len(json.dumps(best5).encode()) + len(json.dumps(again).encode()))
        start = exposition.value(families, "statsd_process_start_time_seconds")
        self.assertTrue(started - 60 <= start <= time.time(), start)
        for name, family in families.items():
            self.assertTrue(name.startswith("statsd_"), name)
            self.assertNotEqual(family.type, "untyped", name)
