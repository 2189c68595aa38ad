"""Discovery lists and the OpenAPI document, against the running server.

The lists are compared with an independent pass over the CSV; the OpenAPI
document is walked against the route table of statsd.api, both ways, and
every documented GET path without required parameters is called to check that
it answers what the document says.
"""

import json
import unittest
from urllib.parse import urlencode

import reference
from support import OBESITY, SAMPLE_CSV, ServedTestCase

from statsd import discovery, openapi
from statsd.api import ROUTES
from statsd.ingest import load_csv
from statsd.stats import STATISTICS

METHODS = {"get", "post", "put", "delete", "patch", "head", "options"}


class DiscoveryTest(ServedTestCase):
    def get_data(self, path, **query):
        if query:
            path += "?" + urlencode(query)
        status, body = self.client.get(path)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "done")
        return body["data"]

    def test_questions_list_every_question_with_data(self):
        data = self.get_data("/api/questions")
        self.assertEqual([item["question"] for item in data], reference.questions())
        for item in data:
            question = item["question"]
            self.assertEqual(item["locations"], len(reference.locations(question)))
            self.assertEqual(item["better"], "lower" if question in reference.LOWER_IS_BETTER else "higher")

    def test_states_list_every_location_or_those_of_one_question(self):
        self.assertEqual(self.get_data("/api/states"), reference.locations())
        for question in reference.questions():
            with self.subTest(question=question[:50]):
                self.assertEqual(self.get_data("/api/states", question=question),
                                 reference.locations(question))
                # Every listed state is accepted by a state_* statistic.
                state = reference.locations(question)[-1]
                self.assertIn(state, self.client.run("state_mean", {"question": question,
                                                                   "state": state}))

    def test_categories_of_a_location(self):
        data = self.get_data("/api/categories", question=OBESITY, state="Ohio")
        expected = {}
        for (question, location, category, stratification) in sorted(reference.group_means()):
            if question == OBESITY and location == "Ohio":
                expected.setdefault(category, []).append(stratification)
        self.assertEqual(data, expected)

    def test_bad_discovery_requests(self):
        cases = [
            ("/api/states?question=nope", "unknown question 'nope'"),
            ("/api/states?state=Ohio", "unknown parameter 'state'"),
            ("/api/questions?x=1", "unknown parameter 'x'"),
            ("/api/categories?state=Ohio", "parameter 'state' needs parameter 'question'"),
            ("/api/categories?question=" + OBESITY.replace(" ", "+") + "&state=Atlantis",
             "unknown state 'Atlantis'"),
            ("/api/states?with=names", "parameter 'with' takes 'abbr'"),
        ]
        for path, reason in cases:
            with self.subTest(path=path):
                status, body = self.client.get(path)
                self.assertEqual(status, 400)
                self.assertIn(reason, body["reason"])

    # -- OpenAPI ------------------------------------------------------------------------

    def document(self):
        status, body = self.client.get("/api/openapi.json")
        self.assertEqual(status, 200)
        return body

    def test_openapi_paths_are_exactly_the_route_table(self):
        document = self.document()
        self.assertTrue(document["openapi"].startswith("3."))
        paths = document["paths"]
        expected = {route.path: route for route in ROUTES}
        self.assertEqual(set(paths), set(expected))
        for path, route in expected.items():
            with self.subTest(path=path):
                operations = {name for name in paths[path] if name in METHODS}
                self.assertEqual(operations, {method.lower() for method in route.methods})
                for name in operations:
                    operation = paths[path][name]
                    self.assertEqual(operation["summary"], route.summary)
                    self.assertIn("200", operation["responses"])
                    for parameter in operation.get("parameters", ()):
                        if parameter["in"] == "path":
                            self.assertIn("{" + parameter["name"] + "}", path)

    def test_every_route_documents_its_path_parameter_and_answers(self):
        for route in ROUTES:
            with self.subTest(path=route.path):
                self.assertIn("200", route.responses)
                path_parameters = [p.name for p in route.parameters if p.where == "path"]
                self.assertEqual(["{" + name + "}" for name in path_parameters],
                                 [part for part in route.path.split("/") if part.startswith("{")])

    def test_each_post_operation_documents_its_own_result(self):
        """Issue 10: every POST carried state_mean_by_category's description (a shared dict)."""
        paths = self.document()["paths"]
        descriptions = {}
        for name, statistic in STATISTICS.items():
            ok = paths[f"/api/{name}"]["post"]["responses"]["200"]
            self.assertIn(statistic.summary, ok["description"])
            descriptions[name] = ok["description"]
            result = ok["content"]["application/json"]["schema"]["x-result"]
            if name == "global_mean":
                self.assertEqual(set(result["properties"]), {"global_mean"})
            else:
                self.assertEqual(result["type"], "object")
        self.assertEqual(len(set(descriptions.values())), len(STATISTICS))
        # A second document is the same: building it changed nothing it was built from.
        self.assertEqual(json.dumps(self.document(), sort_keys=True),
                         json.dumps(openapi.document(ROUTES), sort_keys=True))

    def test_openapi_request_bodies_follow_the_statistics(self):
        paths = self.document()["paths"]
        for name, statistic in STATISTICS.items():
            with self.subTest(statistic=name):
                schema = paths[f"/api/{name}"]["post"]["requestBody"]["content"][
                    "application/json"]["schema"]
                expected = ["question", "state"] if statistic.needs_state else ["question"]
                self.assertEqual(schema["required"], expected)

    def test_openapi_references_resolve(self):
        document = self.document()

        def walk(node):
            if isinstance(node, dict):
                reference_ = node.get("$ref")
                if reference_ is not None:
                    self.assertTrue(reference_.startswith("#/"), reference_)
                    target = document
                    for part in reference_[2:].split("/"):
                        target = target[part]
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(document)

    def test_documented_get_paths_answer_as_documented(self):
        for path, item in self.document()["paths"].items():
            operation = item.get("get")
            if operation is None or "{" in path or path == "/api/graceful_shutdown" or any(
                    parameter.get("required") for parameter in operation.get("parameters", ())):
                continue
            with self.subTest(path=path):
                status, headers, _ = self.client.request("GET", path)
                self.assertEqual(status, 200)
                (documented,) = operation["responses"]["200"]["content"]
                self.assertEqual(headers["Content-Type"].split(";")[0], documented)


class YearsListTest(unittest.TestCase):
    """``discovery.years``, the data of GET /api/years, against the reference pass."""

    def test_years_of_a_question_and_of_a_state(self):
        dataset = load_csv(SAMPLE_CSV)
        years = reference.year_means()
        for question in reference.questions():
            with self.subTest(question=question[:50]):
                expected = sorted({year for (q, _, year) in years if q == question})
                self.assertEqual(discovery.years(dataset, urlencode({"question": question})),
                                 expected)
                location = reference.locations(question)[0]
                expected = sorted({year for (q, place, year) in years
                                   if q == question and place == location})
                self.assertEqual(discovery.years(dataset, urlencode(
                    {"question": question, "state": location.upper()})), expected)


if __name__ == "__main__":
    unittest.main()
