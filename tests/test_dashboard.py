"""The dashboard page and every file it references, fetched from the running server.

The page must work offline: everything it loads comes from statsd itself,
and every API path its script calls is a route of the server.
"""

import re
import unittest
from html.parser import HTMLParser

from support import ServedTestCase

from statsd.api import ROUTES, find_route


#: What a job asked (the dashboard's past jobs) and the years of a question (its
#: filters).  The page looks for them in /api/openapi.json and offers past jobs
#: and filters only where they are; PENDING: what this server does not serve yet.
PAST_JOB = "/api/jobs/"
YEARS = "/api/years"
PENDING = {YEARS}


class References(HTMLParser):
    """Collects every src and href of a page."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.urls.append(value)


class DashboardTest(ServedTestCase):
    def fetch(self, path):
        status, headers, body = self.client.request("GET", path)
        self.assertEqual(status, 200, f"{path}: {body}")
        self.assertGreater(len(body), 0, path)
        return headers["Content-Type"], body

    def test_page_and_every_asset_it_references(self):
        content_type, page = self.fetch("/")
        self.assertEqual(content_type, "text/html; charset=utf-8")
        parser = References()
        parser.feed(page.decode("utf-8"))
        self.assertGreaterEqual(len(parser.urls), 3)
        types = {}
        for url in parser.urls:
            with self.subTest(url=url):
                self.assertTrue(url.startswith("/") and not url.startswith("//"),
                                f"{url} is not served by statsd itself")
                content_type, _ = self.fetch(url)
                types[url.rsplit(".", 1)[-1]] = content_type.split(";")[0]
        self.assertEqual(types["css"], "text/css")
        self.assertEqual(types["js"], "text/javascript")
        self.assertEqual(types["json"], "application/json")

    def test_nothing_is_fetched_from_the_internet(self):
        for path in ("/", "/static/dashboard.css", "/static/dashboard.js"):
            with self.subTest(path=path):
                _, body = self.fetch(path)
                text = body.decode("utf-8")
                self.assertNotRegex(text, r"(src|href)\s*=\s*[\"'](https?:)?//")
                self.assertNotRegex(text, r"url\(\s*[\"']?(https?:)?//")
                self.assertNotRegex(text, r"(fetch|import)\s*\(\s*[\"'`](https?:)?//")
                self.assertNotIn("@import", text)

    def test_every_api_path_of_the_script_is_a_route(self):
        _, script = self.fetch("/static/dashboard.js")
        paths = set(re.findall(r"/api/[a-z_.]+/?", script.decode("utf-8")))
        self.assertGreaterEqual(len(paths), 6)
        self.assertLessEqual(PENDING, paths)
        for path in paths - PENDING:
            with self.subTest(path=path):
                route, _ = find_route(path)
                self.assertIsNotNone(route, path)
        # It offers every statistic of the server, and every chart.
        text = script.decode("utf-8")
        for route in ROUTES:
            if route.methods == ("POST",):
                self.assertIn(f"{route.name}:", text)
        self.assertIn("/api/charts/{kind}", [route.path for route in ROUTES])
        for kind in ("states", "trend", "categories", "split"):
            self.assertIn(f'"{kind}"', text)

    def test_the_past_job_endpoint_of_the_script_is_a_route(self):
        route, argument = find_route(PAST_JOB + "job_id_1")
        self.assertIsNotNone(route)
        self.assertEqual(argument, "job_id_1")

    def test_the_script_offers_the_filters_the_server_lists(self):
        _, script = self.fetch("/static/dashboard.js")
        self.assertIn(YEARS, script.decode("utf-8"))
        if find_route(YEARS)[0] is None:
            self.skipTest("this server has no GET /api/years yet: the page offers no filters")
        paths = self.client.get("/api/openapi.json")[1]["paths"]
        self.assertIn(YEARS, paths)  # what the page looks for before it offers filters

    def test_only_files_of_the_static_folder_are_served(self):
        for path in ("/static/", "/static/nope.js", "/static/..%2f__init__.py",
                     "/static/../statsd/__init__.py", "/static/__init__.py"):
            with self.subTest(path=path):
                status, headers, body = self.client.request("GET", path)
                self.assertEqual(status, 404)
                self.assertEqual(body["status"], "error")


if __name__ == "__main__":
    unittest.main()
