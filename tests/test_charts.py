"""Charts, fetched from the running server and read back with xml.etree.

Every bar, segment, point and rule carries its number; these tests check it
against the statistic the chart shows (computed by the server as a job) and
against an independent pass over the CSV (tests/reference.py), and check that
the drawn geometry is proportional to it, so a chart cannot show one number
and draw another.
"""

import ast
import re
import unittest
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlencode

import reference
from support import OBESITY, SAMPLE_CSV, ServedTestCase

from statsd import charts
from statsd.ingest import load_csv

SVG = "{http://www.w3.org/2000/svg}"
#: Geometry is written with two decimals.
PIXELS = 0.02


def by_class(root, name):
    return [element for element in root.iter() if element.get("class") == name]


def number(element, attribute):
    return float(element.get(attribute))


def center(element):
    """Centre of a point marker, whatever its shape."""
    tag = element.tag[len(SVG):]
    if tag == "circle":
        return number(element, "cx"), number(element, "cy")
    if tag == "rect":
        return (number(element, "x") + number(element, "width") / 2,
                number(element, "y") + number(element, "height") / 2)
    coordinates = [float(value) for value in
                   re.findall(r"-?[0-9.]+", element.get("points") or element.get("d"))]
    xs, ys = coordinates[0::2], coordinates[1::2]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


def shape(element):
    """What tells a marker apart in grey: its element, corners, and whether it is filled."""
    return (element.tag, len((element.get("points") or "").split()),
            element.get("fill") == "#ffffff")


def luminance(colour):
    red, green, blue = (int(colour[index:index + 2], 16) / 255 for index in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


class ChartTest(ServedTestCase):
    def chart(self, kind, params):
        path = f"/api/charts/{kind}?{urlencode(params)}"
        status, headers, body = self.client.request("GET", path)
        self.assertEqual(status, 200, f"{path}: {body}")
        self.assertTrue(headers["Content-Type"].startswith("image/svg+xml"), headers)
        root = ET.fromstring(body)
        self.assertEqual(root.tag, f"{SVG}svg")
        self.check_legible(root)
        return root

    def check_legible(self, root):
        """800 px wide, a title, labelled axes, no text smaller than 11 px."""
        self.assertEqual(root.get("width"), "800")
        self.assertTrue(root.find(f"{SVG}title").text)
        self.assertTrue(by_class(root, "title"), "a visible title")
        self.assertTrue(by_class(root, "axis-label"), "axis labels")
        for text in root.iter(f"{SVG}text"):
            self.assertGreaterEqual(int(text.get("font-size")), 11, text.text)

    def assert_proportional(self, lengths_and_values):
        """Lengths are one scale times values, within the rounding of the coordinates."""
        length, value = max(lengths_and_values, key=lambda pair: pair[1])
        scale = length / value
        for length, value in lengths_and_values:
            self.assertAlmostEqual(length, scale * value, delta=PIXELS, msg=(length, value))
        return scale

    # -- states -------------------------------------------------------------

    def test_states_chart_matches_states_mean_best5_worst5_global_mean(self):
        for question in reference.questions():
            with self.subTest(question=question[:50]):
                root = self.chart("states", {"question": question})
                means = self.client.run("states_mean", {"question": question})
                best = list(self.client.run("best5", {"question": question}))
                worst = list(self.client.run("worst5", {"question": question}))
                overall = self.client.run("global_mean", {"question": question})["global_mean"]

                bars = sorted(by_class(root, "bar"), key=lambda bar: number(bar, "y"))
                drawn = {bar.get("data-location"): number(bar, "data-value") for bar in bars}
                self.assertEqual(set(drawn), set(means))
                for location, value in drawn.items():
                    self.assertAlmostEqual(value, means[location], delta=1e-9)
                    self.assertAlmostEqual(value, reference.location_means()[question, location],
                                           delta=0.01)
                # Best first, whichever way is better for this question.
                values = [number(bar, "data-value") for bar in bars]
                self.assertEqual(values[0], means[best[0]])
                self.assertIn(values, (sorted(values), sorted(values, reverse=True)))
                # Every bar starts at the axis and is as long as its value.
                self.assertEqual(len({bar.get("x") for bar in bars}), 1)
                scale = self.assert_proportional(
                    [(number(bar, "width"), number(bar, "data-value")) for bar in bars])
                marks = {bar.get("data-location"): bar.get("data-mark") for bar in bars}
                for rank, location in enumerate(best, 1):
                    self.assertEqual(marks[location], f"best {rank}")
                for rank, location in enumerate(worst, 1):
                    if location not in best:
                        self.assertEqual(marks[location], f"worst {rank}")
                self.assertEqual(sum(1 for mark in marks.values() if mark),
                                 len(set(best) | set(worst)))
                (rule,) = by_class(root, "global-mean")
                self.assertAlmostEqual(number(rule, "data-value"), overall, delta=1e-9)
                self.assertAlmostEqual(number(rule, "x1") - number(bars[0], "x"),
                                       scale * overall, delta=PIXELS)

    def test_states_chart_marks_survive_greyscale(self):
        root = self.chart("states", {"question": OBESITY})
        fills = {}
        for bar in by_class(root, "bar"):
            kind = bar.get("data-mark").split(" ")[0]
            fills.setdefault(kind, set()).add(bar.get("fill"))
        self.assertEqual(set(fills), {"best", "worst", ""})
        self.assertTrue(all(len(kind_fills) == 1 for kind_fills in fills.values()))
        best, worst, other = (fills[kind].pop() for kind in ("best", "worst", ""))
        self.assertTrue(worst.startswith("url(#"), "worst 5 are hatched")
        self.assertGreater(abs(luminance(best) - luminance(other)), 0.3)

    # -- categories and split -------------------------------------------------------

    def pairs(self):
        """A few (question, location) pairs with several categories."""
        chosen = []
        for question in reference.questions()[:3]:
            for state in reference.locations(question)[:2]:
                chosen.append((question, state))
        return chosen

    def test_categories_chart_matches_state_mean_by_category(self):
        for question, state in self.pairs():
            with self.subTest(question=question[:40], state=state):
                root = self.chart("categories", {"question": question, "state": state})
                data = self.client.run("state_mean_by_category",
                                       {"question": question, "state": state})[state]
                expected = {ast.literal_eval(key): value for key, value in data.items()}
                bars = by_class(root, "bar")
                drawn = {(bar.get("data-category"), bar.get("data-stratification")):
                         number(bar, "data-value") for bar in bars}
                self.assertEqual(len(drawn), len(bars))
                self.assertEqual(set(drawn), set(expected))
                for group, value in drawn.items():
                    self.assertAlmostEqual(value, expected[group], delta=1e-9)
                    self.assertAlmostEqual(value, reference.group_means()[(question, state) + group],
                                           delta=0.01)
                # Drawn in the order of the statistic: by (category, stratification).
                in_order = sorted(bars, key=lambda bar: number(bar, "y"))
                self.assertEqual([(bar.get("data-category"), bar.get("data-stratification"))
                                  for bar in in_order], list(expected))
                scale = self.assert_proportional(
                    [(number(bar, "width"), number(bar, "data-value")) for bar in bars])
                (rule,) = by_class(root, "location-mean")
                state_mean = self.client.run("state_mean", {"question": question, "state": state})
                self.assertAlmostEqual(number(rule, "data-value"), state_mean[state], delta=1e-9)
                self.assertAlmostEqual(number(rule, "x1") - number(bars[0], "x"),
                                       scale * state_mean[state], delta=PIXELS)
                headings = [text.text for text in by_class(root, "category")]
                self.assertEqual(headings, sorted({category for category, _ in expected}))

    def test_split_chart_shares_match_state_mean_by_category(self):
        question, state = OBESITY, "Ohio"
        data = self.client.run("state_mean_by_category", {"question": question, "state": state})
        groups = {ast.literal_eval(key): value for key, value in data[state].items()}
        categories = sorted({category for category, _ in groups})
        self.assertGreater(len(categories), 2)
        for category in categories:
            with self.subTest(category=category):
                root = self.chart("split", {"question": question, "state": state,
                                            "category": category})
                expected = {stratification: value
                            for (group_category, stratification), value in groups.items()
                            if group_category == category}
                segments = sorted(by_class(root, "segment"), key=lambda item: number(item, "x"))
                self.assertEqual([segment.get("data-stratification") for segment in segments],
                                 list(expected))
                total = sum(expected.values())
                widths = [number(segment, "width") for segment in segments]
                for segment, width in zip(segments, widths):
                    value = expected[segment.get("data-stratification")]
                    self.assertAlmostEqual(number(segment, "data-value"), value, delta=1e-9)
                    self.assertAlmostEqual(number(segment, "data-share"), value / total, delta=1e-9)
                    self.assertAlmostEqual(width, sum(widths) * value / total, delta=PIXELS)
                # Segments sit end to end, and the bar is full.
                for left, right in zip(segments, segments[1:]):
                    self.assertAlmostEqual(number(left, "x") + number(left, "width"),
                                           number(right, "x"), delta=PIXELS)
                self.assertEqual(len({segment.get("fill") for segment in segments}),
                                 len(segments))

    # -- trend -------------------------------------------------------------------

    def test_trend_chart_matches_yearly_means_from_the_csv(self):
        question = OBESITY
        states = ["Ohio", "Texas", "Alabama"]
        query = [("question", question)] + [("state", state) for state in states]
        root = self.chart("trend", query)
        points = by_class(root, "point")
        drawn = {(point.get("data-location"), int(point.get("data-year"))): point
                 for point in points}
        self.assertEqual(len(drawn), len(points), "one point per location and year")
        expected = {(location, year): value
                    for (q, location, year), value in reference.year_means().items()
                    if q == question and location in ["National"] + states}
        self.assertEqual(set(drawn), set(expected))
        for key, value in expected.items():
            self.assertAlmostEqual(number(drawn[key], "data-value"), value, delta=0.01, msg=key)
        # y is one linear function of the value, x one increasing function of the year.
        centres = {key: center(point) for key, point in drawn.items()}
        low = min(expected, key=expected.get)
        high = max(expected, key=expected.get)
        slope = (centres[high][1] - centres[low][1]) / (expected[high] - expected[low])
        self.assertLess(slope, 0, "higher values are drawn higher up")
        for key, value in expected.items():
            self.assertAlmostEqual(centres[key][1],
                                   centres[low][1] + slope * (value - expected[low]),
                                   delta=0.05, msg=key)
        x_of_year = {}
        for (_, year), (x, _) in centres.items():
            x_of_year.setdefault(year, set()).add(round(x, 1))
        self.assertTrue(all(len(xs) == 1 for xs in x_of_year.values()))
        years = sorted(x_of_year)
        self.assertEqual([x_of_year[year] for year in years],
                         sorted((x_of_year[year] for year in years), key=lambda xs: min(xs)))
        # Each series is told apart by marker shape or dash pattern, not colour alone.
        series = by_class(root, "series")
        styles = {(line.get("stroke-dasharray"),
                   next(shape(point) for point in points
                        if point.get("data-location") == line.get("data-location")))
                  for line in series}
        self.assertEqual(len(styles), len(series))

    def test_trend_draws_a_location_named_twice_once(self):
        root = self.chart("trend", [("question", OBESITY), ("state", "Ohio"), ("state", "Ohio")])
        self.assertEqual(sorted(line.get("data-location") for line in by_class(root, "series")),
                         ["National", "Ohio"])

    # -- bad requests ----------------------------------------------------------------

    def test_bad_chart_requests_get_a_clear_json_error(self):
        q = quote(OBESITY)
        cases = [
            ("/api/charts/pie?question=" + q, 404, "no chart 'pie'"),
            ("/api/charts/states", 400, "missing parameter 'question'"),
            ("/api/charts/states?question=", 400, "missing parameter 'question'"),
            ("/api/charts/states?question=nope", 400, "unknown question 'nope'"),
            (f"/api/charts/states?question={q}&colour=red", 400, "unknown parameter 'colour'"),
            (f"/api/charts/states?question={q}&question={q}", 400, "given 2 times"),
            (f"/api/charts/categories?question={q}", 400, "missing parameter 'state'"),
            (f"/api/charts/categories?question={q}&state=Atlantis", 400, "unknown state"),
            (f"/api/charts/split?question={q}&state=Ohio", 400, "missing parameter 'category'"),
            (f"/api/charts/split?question={q}&state=Ohio&category=Shoe+size", 400,
             "no category 'Shoe size'"),
            (f"/api/charts/trend?question={q}&state=Ohio&state=Atlantis", 400, "unknown state"),
        ]
        for path, status, reason in cases:
            with self.subTest(path=path):
                got, headers, body = self.client.request("GET", path)
                self.assertEqual(got, status, body)
                self.assertEqual(headers["Content-Type"], "application/json")
                self.assertEqual(body["status"], "error")
                self.assertIn(reason, body["reason"])
        with self.subTest(method="POST"):
            got, headers, body = self.client.request("POST", f"/api/charts/states?question={q}", {})
            self.assertEqual(got, 405)
            # The unread body must not leak into the next request on the connection.
            self.assertEqual(self.client.request("GET", f"/api/charts/states?question={q}")[0], 200)


class EveryChartTest(unittest.TestCase):
    def test_every_chart_of_every_question_and_location_draws(self):
        """What the dashboard can ask for, drawn in-process: all valid SVG with data."""
        dataset = load_csv(SAMPLE_CSV)
        drawn = 0
        for question, data in dataset.questions.items():
            queries = [("states", {"question": question})]
            for state, place in data.locations.items():
                queries.append(("trend", {"question": question, "state": state}))
                queries.append(("categories", {"question": question, "state": state}))
                for category in sorted({category for category, _ in place.groups}):
                    queries.append(("split", {"question": question, "state": state,
                                              "category": category}))
            for kind, params in queries:
                root = ET.fromstring(charts.render(dataset, kind, urlencode(params)))
                marks = by_class(root, "point") + by_class(root, "bar") + by_class(root, "segment")
                self.assertTrue(marks, (kind, params))
                drawn += 1
        self.assertGreater(drawn, 1000)


if __name__ == "__main__":
    unittest.main()
