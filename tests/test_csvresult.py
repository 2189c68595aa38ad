"""Results as CSV: every statistic's data, written by statsd.csvresult, parsed back with csv.

Why: a CSV that a spreadsheet splits wrongly (a comma inside "$25,000 -
$34,999", a quote in "Master's degree") or that rounds a number is worse
than none.  Each statistic of the sample, with and without filters, is
turned into CSV, read back with the ``csv`` module, and compared with the
JSON ``data`` it came from: the header, the order of the rows, the parts of
the tuple keys, and every number to the last bit.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import unittest

from support import OBESITY, SAMPLE_CSV

from statsd.csvresult import COLUMNS, to_csv
from statsd.ingest import load_csv
from statsd.request import Filters, JobRequest
from statsd.stats import STATISTICS, compute


def parse(text: str):
    return list(csv.reader(io.StringIO(text, newline="")))


class CsvResultTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dataset = load_csv(SAMPLE_CSV)

    def data(self, endpoint: str, filters: Filters = Filters()):
        """The JSON data as a client receives it (through json, as get_results sends it)."""
        state = "Ohio" if STATISTICS[endpoint].needs_state else None
        return json.loads(json.dumps(compute(self.dataset, JobRequest(
            endpoint, OBESITY, state, filters))))

    def expected_rows(self, endpoint: str, data):
        """The rows the contract describes, built from the data without statsd.csvresult."""
        if endpoint == "global_mean":
            return [[repr(data["global_mean"])]]
        if endpoint == "mean_by_category":
            return [list(ast.literal_eval(key)) + [repr(mean)] for key, mean in data.items()]
        if endpoint == "state_mean_by_category":
            return [[state] + list(ast.literal_eval(key)) + [repr(mean)]
                    for state, groups in data.items() for key, mean in groups.items()]
        return [[location, repr(value)] for location, value in data.items()]

    def test_every_statistic_parses_back_to_its_json(self):
        headers = {"states_mean": ["location", "mean"], "state_mean": ["location", "mean"],
                   "best5": ["location", "mean"], "worst5": ["location", "mean"],
                   "global_mean": ["global_mean"],
                   "diff_from_mean": ["location", "difference"],
                   "state_diff_from_mean": ["location", "difference"],
                   "mean_by_category": ["location", "category", "stratification", "mean"],
                   "state_mean_by_category": ["location", "category", "stratification", "mean"]}
        self.assertEqual(set(COLUMNS), set(STATISTICS))
        for filters in (Filters(), Filters(year_from=2015, category="Income")):
            for endpoint in STATISTICS:
                with self.subTest(endpoint=endpoint, filters=filters):
                    data = self.data(endpoint, filters)
                    text = to_csv(data, endpoint)
                    rows = parse(text)
                    self.assertEqual(rows[0], headers[endpoint])
                    self.assertEqual(rows[1:], self.expected_rows(endpoint, data))
                    self.assertTrue(text.endswith("\r\n"))
                    # Numbers are exact: float(text) is the JSON number.
                    numbers = [float(row[-1]) for row in rows[1:]]
                    if endpoint == "mean_by_category":
                        self.assertEqual(numbers, list(data.values()))
                    elif endpoint == "state_mean_by_category":
                        self.assertEqual(numbers, list(data["Ohio"].values()))
                    else:
                        self.assertEqual(numbers, list(data.values()))

    def test_commas_and_quotes_survive(self):
        data = {"('Alabama', 'Income', '$25,000 - $34,999')": 32.0,
                "('Alabama', 'Education', \"Master's degree\")": 30.5,
                "('Quote \"land\"', 'Total', 'Total')": 0.1 + 0.2}
        rows = parse(to_csv(data, "mean_by_category"))
        self.assertEqual(rows[1:], [
            ["Alabama", "Income", "$25,000 - $34,999", "32.0"],
            ["Alabama", "Education", "Master's degree", "30.5"],
            ['Quote "land"', "Total", "Total", "0.30000000000000004"]])
        rows = parse(to_csv({"Washington, D.C.": {
            "('Income', '$25,000 - $34,999')": 1e-05}}, "state_mean_by_category"))
        self.assertEqual(rows, [["location", "category", "stratification", "mean"],
                                ["Washington, D.C.", "Income", "$25,000 - $34,999", "1e-05"]])

    def test_empty_data_is_just_the_header(self):
        self.assertEqual(to_csv({}, "states_mean"), "location,mean\r\n")

    def test_statistic_not_known_any_more(self):
        """A result of an earlier run: its shape gives the rows; a flat one says "value"."""
        for endpoint in STATISTICS:
            with self.subTest(endpoint=endpoint):
                data = self.data(endpoint)
                rows = parse(to_csv(data))
                self.assertEqual(rows[1:], self.expected_rows(endpoint, data))
                if endpoint in ("global_mean", "mean_by_category", "state_mean_by_category"):
                    self.assertEqual(tuple(rows[0]), COLUMNS[endpoint])
                else:
                    self.assertEqual(rows[0], ["location", "value"])


if __name__ == "__main__":
    unittest.main()
