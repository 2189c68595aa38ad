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


#: Character widths of DejaVu Sans in em, by kind; measured in Chromium, they
#: are within 7 % of the real width of every label of the charts.
NARROW = set("iljtfrI.,:;'!|() -/")
WIDE = set("MWmw%@")


def text_box(element):
    """``(left, top, right, bottom)`` of a ``<text>``, its width estimated a little wide."""
    size = float(element.get("font-size"))
    text = element.text or ""
    em = sum(0.36 if char in NARROW else 0.92 if char in WIDE
             else 0.70 if char.isupper() or char.isdigit() or char in "$#&" else 0.62
             for char in text)
    width = em * size * (1.08 if element.get("font-weight") == "bold" else 1.0) * 1.1
    x, y = number(element, "x"), number(element, "y")
    left = {"start": x, "middle": x - width / 2, "end": x - width}[element.get("text-anchor")]
    return left, y - 0.75 * size, left + width, y + 0.2 * size


def overlaps(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def layout_problems(root):
    """Labels cut off by the edge, crossed by a straight line, or on top of another label."""
    width, height = number(root, "width"), number(root, "height")
    texts = [(element.text, text_box(element)) for element in root.iter(f"{SVG}text")
             if not element.get("transform")]
    problems = []
    for text, box in texts:
        if box[0] < 0 or box[2] > width or box[1] < 0 or box[3] > height:
            problems.append(f"{text!r} leaves the chart: {box}")
    for index, (text, box) in enumerate(texts):
        for other, other_box in texts[index + 1:]:
            if overlaps(box, other_box):
                problems.append(f"{text!r} overlaps {other!r}")
    for line in root.iter(f"{SVG}line"):
        x1, y1, x2, y2 = (number(line, name) for name in ("x1", "y1", "x2", "y2"))
        segment = (min(x1, x2) - 0.5, min(y1, y2) - 0.5, max(x1, x2) + 0.5, max(y1, y2) + 0.5)
        for text, box in texts:
            if overlaps(segment, box):
                problems.append(f"a line ({line.get('class') or 'grid'}) crosses {text!r}")
    return problems


def trend_oracle(question, locations, keep=lambda row: True):
    """``(location, year) -> (mean, rows, kind)`` as the trend chart should draw them, from
    the CSV: a location's Total rows where its kept rows have some, else all its kept rows."""
    kept = {}
    for row in reference.rows():
        if row["Question"] == question and row["LocationDesc"] in locations and keep(row):
            kept.setdefault(row["LocationDesc"], []).append(row)
    found = {}
    for location, rows in kept.items():
        total = [row for row in rows
                 if (row["StratificationCategory1"], row["Stratification1"]) == ("Total", "Total")]
        chosen, kind = (total, "Total") if total else (rows, "all rows")
        years = {}
        for row in chosen:
            years.setdefault(int(row["YearStart"]), []).append(float(row["Data_Value"]))
        for year, values in years.items():
            found[location, year] = (sum(values) / len(values), len(values), kind)
    return found


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
        self.assertEqual(layout_problems(root), [])

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
                if len(means) >= 10:  # best 5 and worst 5 are ten distinct locations
                    self.assertEqual({marks[location] for location in best},
                                     {f"best {rank}" for rank in range(1, 6)})
                    for rank, location in enumerate(best, 1):
                        self.assertEqual(marks[location], f"best {rank}")
                    for rank, location in enumerate(worst, 1):
                        self.assertEqual(marks[location], f"worst {rank}")
                    self.assertEqual(sum(1 for mark in marks.values() if mark), 10)
                else:  # too few for two sets: every location ranked, as best5 and worst5 order them
                    better = (lambda a, b: a < b) if values == sorted(values) else (lambda a, b: a > b)
                    for location, mean in means.items():
                        rank = 1 + sum(1 for other in means.values() if better(other, mean))
                        self.assertEqual(marks[location], f"rank {rank}", location)
                    ranks = [int(marks[location].split()[1]) for location in best]
                    self.assertEqual(ranks, sorted(ranks))
                    self.assertEqual(ranks[0], 1)
                    ranks = [int(marks[location].split()[1]) for location in worst]
                    self.assertEqual(ranks, sorted(ranks, reverse=True))
                    self.assertEqual(ranks[0], max(int(mark.split()[1]) for mark in marks.values()))
                    self.assertIn(f"Only {len(means)} locations",
                                  " ".join(text.text for text in by_class(root, "subtitle")))
                # Value labels stand right of every bar and of the rule, in their own column.
                labels = by_class(root, "value-label")
                self.assertEqual(len(labels), len(bars))
                plot_right = max(number(bar, "x") + number(bar, "width") for bar in bars)
                for label, bar in zip(sorted(labels, key=lambda item: number(item, "y")), bars):
                    self.assertGreater(number(label, "x"), plot_right)
                    self.assertTrue(label.text.startswith(f"{number(bar, 'data-value'):.1f}"))
                    mark = bar.get("data-mark")
                    self.assertEqual(label.text.endswith(mark) if mark else True, True, label.text)
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

    def test_split_chart_draws_group_means_against_the_location_mean(self):
        question, state = OBESITY, "Ohio"
        data = self.client.run("state_mean_by_category", {"question": question, "state": state})
        groups = {ast.literal_eval(key): value for key, value in data[state].items()}
        state_mean = self.client.run("state_mean", {"question": question, "state": state})[state]
        categories = sorted({category for category, _ in groups})
        self.assertGreater(len(categories), 2)
        for category in categories:
            with self.subTest(category=category):
                root = self.chart("split", {"question": question, "state": state,
                                            "category": category})
                expected = {stratification: value
                            for (group_category, stratification), value in groups.items()
                            if group_category == category}
                bars = sorted(by_class(root, "bar"), key=lambda item: number(item, "y"))
                self.assertEqual([bar.get("data-stratification") for bar in bars],
                                 list(expected))
                for bar in bars:
                    value = expected[bar.get("data-stratification")]
                    self.assertAlmostEqual(number(bar, "data-value"), value, delta=1e-9)
                    self.assertAlmostEqual(number(bar, "data-difference"), value - state_mean,
                                           delta=1e-9)
                    self.assertAlmostEqual(value, reference.group_means()[
                        (question, state, category, bar.get("data-stratification"))], delta=0.01)
                scale = self.assert_proportional(
                    [(number(bar, "width"), number(bar, "data-value")) for bar in bars])
                (rule,) = by_class(root, "location-mean")
                self.assertAlmostEqual(number(rule, "data-value"), state_mean, delta=1e-9)
                self.assertAlmostEqual(number(rule, "x1") - number(bars[0], "x"),
                                       scale * state_mean, delta=PIXELS)
                # No shares of a sum of means anywhere.
                self.assertFalse(by_class(root, "segment"))
                self.assertNotIn("share", ET.tostring(root, encoding="unicode").lower())

    # -- diff ----------------------------------------------------------------------

    def test_diff_chart_diverges_from_zero_as_diff_from_mean(self):
        for question in reference.questions():
            with self.subTest(question=question[:50]):
                root = self.chart("diff", {"question": question})
                differences = self.client.run("diff_from_mean", {"question": question})
                overall = self.client.run("global_mean", {"question": question})["global_mean"]
                bars = sorted(by_class(root, "bar"), key=lambda bar: number(bar, "y"))
                self.assertEqual([bar.get("data-location") for bar in bars], list(differences))
                (zero,) = by_class(root, "zero")
                origin = number(zero, "x1")
                lengths = []
                for bar in bars:
                    location, value = bar.get("data-location"), number(bar, "data-value")
                    self.assertAlmostEqual(value, differences[location], delta=1e-9)
                    self.assertAlmostEqual(
                        value, overall - reference.location_means()[question, location],
                        delta=0.01)
                    left, right = number(bar, "x"), number(bar, "x") + number(bar, "width")
                    # A positive difference (location below the global mean) grows right of 0.
                    self.assertAlmostEqual(left if value >= 0 else right, origin, delta=PIXELS)
                    lengths.append((number(bar, "width"), abs(value)))
                self.assert_proportional(lengths)
                fills = {value >= 0: bar.get("fill") for bar in bars
                         for value in [number(bar, "data-value")]}
                if len(fills) == 2:
                    self.assertNotEqual(fills[True], fills[False])
                subtitle = " ".join(text.text for text in by_class(root, "subtitle"))
                self.assertIn("Right of 0", subtitle)
                best = self.client.run("best5", {"question": question})
                lower = abs(list(best.values())[0] - min(
                    reference.location_means()[question, location]
                    for location in reference.locations(question))) < 0.01
                self.assertIn("lower is better" if lower else "higher is better", subtitle)

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
        oracle = trend_oracle(question, ["National"] + states)
        expected = {key: value for key, (value, _, _) in oracle.items()}
        self.assertEqual(set(drawn), set(expected))
        for key, (value, rows, kind) in oracle.items():
            self.assertAlmostEqual(number(drawn[key], "data-value"), value, delta=0.01, msg=key)
            self.assertEqual(drawn[key].get("data-rows-of"), kind, key)
        self.assertIn("Total", {kind for _, _, kind in oracle.values()},
                      "the sample has Total rows for National")
        self.assertIn("all rows", {kind for _, _, kind in oracle.values()})
        subtitle = " ".join(text.text for text in by_class(root, "subtitle"))
        self.assertIn("the Total stratification where the data has it", subtitle)
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
        # Each year has its tick; a series' points sit near it, nudged aside so
        # that no marker hides another, and x grows with the year.
        ticks = {int(tick.get("data-year")): number(tick, "x1") for tick in by_class(root, "year-tick")}
        step = min(b - a for a, b in zip(sorted(ticks.values()), sorted(ticks.values())[1:]))
        for (location, year), (x, y) in centres.items():
            self.assertLess(abs(x - ticks[year]), step / 2, (location, year))
        for (location, year), (x, y) in centres.items():
            for (other, other_year), (other_x, other_y) in centres.items():
                if other != location and other_year == year:
                    self.assertGreater(abs(x - other_x) + abs(y - other_y), 4, (location, other, year))
        # Rows behind each point, drawn and in the data, as counted in the CSV.
        counts = {key: rows for key, (_, rows, _) in oracle.items()}
        rings = by_class(root, "few-rows")
        few = [key for key in expected if counts[key] < charts.FEW_ROWS]
        self.assertTrue(few, "the sample has points resting on one or two rows")
        self.assertEqual(len(rings), len(few))
        for key, point in drawn.items():
            self.assertEqual(int(point.get("data-rows")), counts[key], key)
        written = {(text.get("data-location"), int(text.get("data-year"))): int(text.text)
                   for text in by_class(root, "row-count")}
        self.assertEqual(written, {key: counts[key] for key in expected})
        # A line joins consecutive years only, never across a year without data.
        for line in by_class(root, "series"):
            years = [int(year) for year in line.get("data-years").split()]
            self.assertEqual(years, list(range(years[0], years[0] + len(years))))
            for year in years:
                self.assertIn((line.get("data-location"), year), expected)
        joined = {(line.get("data-location"), int(year)) for line in by_class(root, "series")
                  for year in line.get("data-years").split()}
        for location, year in expected:
            neighbours = {(location, year - 1), (location, year + 1)} & set(expected)
            self.assertEqual((location, year) in joined, bool(neighbours), (location, year))
        # Each series is told apart by marker shape or dash pattern, not colour alone.
        series = by_class(root, "series")
        styles = {(line.get("stroke-dasharray"),
                   next(shape(point) for point in points
                        if point.get("data-location") == line.get("data-location")))
                  for line in series}
        self.assertEqual(len(styles), len(series))

    def test_trend_draws_a_location_named_twice_once(self):
        root = self.chart("trend", [("question", OBESITY), ("state", "Ohio"), ("state", "Ohio")])
        self.assertEqual([text.get("data-location") for text in by_class(root, "legend")],
                         ["National", "Ohio"])
        ohio = [point.get("data-year") for point in by_class(root, "point")
                if point.get("data-location") == "Ohio"]
        self.assertEqual(len(ohio), len(set(ohio)))

    # -- filters -------------------------------------------------------------------

    def test_charts_take_the_filters_of_the_data_endpoints(self):
        question, state = OBESITY, "Ohio"
        years = lambda row: 2015 <= int(row["YearStart"]) <= 2018  # noqa: E731

        def means(key, keep):
            values = {}
            for row in reference.rows():
                if row["Question"] == question and keep(row):
                    values.setdefault(key(row), []).append(float(row["Data_Value"]))
            return {name: sum(numbers) / len(numbers) for name, numbers in values.items()}

        root = self.chart("states", {"question": question, "year_from": 2015, "year_to": 2018})
        expected = means(lambda row: row["LocationDesc"], years)
        drawn = {bar.get("data-location"): number(bar, "data-value") for bar in by_class(root, "bar")}
        self.assertEqual(set(drawn), set(expected))
        for location, value in drawn.items():
            self.assertAlmostEqual(value, expected[location], delta=0.01, msg=location)
        (rule,) = by_class(root, "global-mean")
        self.assertAlmostEqual(number(rule, "data-value"),
                               means(lambda row: "all", years)["all"], delta=0.01)
        self.assertIn("Rows kept: YearStart 2015 to 2018",
                      " ".join(text.text for text in by_class(root, "subtitle")))

        income = lambda row: row["StratificationCategory1"] == "Income"  # noqa: E731
        root = self.chart("diff", {"question": question, "category": "Income"})
        location_means = means(lambda row: row["LocationDesc"], income)
        overall = means(lambda row: "all", income)["all"]
        for bar in by_class(root, "bar"):
            self.assertAlmostEqual(number(bar, "data-value"),
                                   overall - location_means[bar.get("data-location")], delta=0.01)

        root = self.chart("categories", {"question": question, "state": state,
                                         "category": "Income"})
        self.assertEqual({bar.get("data-category") for bar in by_class(root, "bar")}, {"Income"})
        (rule,) = by_class(root, "location-mean")
        self.assertAlmostEqual(number(rule, "data-value"), means(
            lambda row: "x", lambda row: income(row) and row["LocationDesc"] == state)["x"],
            delta=0.01)

        root = self.chart("trend", [("question", question), ("state", state),
                                    ("category", "Income")])
        oracle = trend_oracle(question, ["National", state], income)
        drawn = {(point.get("data-location"), int(point.get("data-year"))): point
                 for point in by_class(root, "point")}
        self.assertEqual(set(drawn), set(oracle))
        for key, (value, rows, _) in oracle.items():
            self.assertAlmostEqual(number(drawn[key], "data-value"), value, delta=0.01)
            self.assertEqual(int(drawn[key].get("data-rows")), rows)
            self.assertEqual(drawn[key].get("data-rows-of"), "Income")

        root = self.chart("split", {"question": question, "state": state,
                                    "category": "Age (years)", "year_from": 2018})
        later = lambda row: int(row["YearStart"]) >= 2018 and row["LocationDesc"] == state  # noqa: E731
        expected = means(lambda row: row["Stratification1"],
                         lambda row: later(row) and row["StratificationCategory1"] == "Age (years)")
        drawn = {bar.get("data-stratification"): number(bar, "data-value")
                 for bar in by_class(root, "bar")}
        self.assertEqual(set(drawn), set(expected))
        for group, value in drawn.items():
            self.assertAlmostEqual(value, expected[group], delta=0.01)

        q = quote(question)
        for path, reason in [
                (f"/api/charts/states?question={q}&year_from=soon", "parameter 'year_from'"),
                (f"/api/charts/states?question={q}&year_from=2019&year_to=2015", "year_from"),
                (f"/api/charts/states?question={q}&category=Shoe+size", "category"),
                (f"/api/charts/states?question={q}&stratification=Male", "stratification"),
                (f"/api/charts/states?question={q}&year_from=1990&year_to=1991", "no data"),
                (f"/api/charts/split?question={q}&state=Ohio&category=Income&stratification=Male",
                 "unknown parameter 'stratification'")]:
            with self.subTest(path=path):
                status, _, body = self.client.request("GET", path)
                self.assertEqual(status, 400, body)
                self.assertIn(reason, body["reason"])

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
        """What the dashboard can ask for, drawn in-process: all valid SVG with data,
        no label cut off, crossed by a line or on another label."""
        dataset = load_csv(SAMPLE_CSV)
        drawn = 0
        for question, data in dataset.questions.items():
            queries = [("states", {"question": question}), ("diff", {"question": question})]
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
                self.assertEqual(layout_problems(root), [], (kind, params))
                drawn += 1
        self.assertGreater(drawn, 1000)


if __name__ == "__main__":
    unittest.main()
