"""Filters (years, category, group) and location names, against a naive oracle, over HTTP.

Why: a filtered statistic is answered from sums that ingest added up once per
(location, group, year) cell; a wrong cell number, a year bound off by one,
a group of the wrong category would still give plausible numbers.  The oracle
here shares no code with statsd: for every request it loops over every
``csv.DictReader`` row of the file, keeps those the filters keep, and
averages the slow obvious way.  It is compared with what the real server
answers over HTTP, for every statistic and every kind of filter, on the
bundled sample (one row per cell) and on a synthetic file (several rows per
cell, all 34 groups and 12 years), with the checker's tolerance of 0.01 and
the order the contract fixes.  Bad filters, filters that keep nothing, names
by letter case and abbreviation, the cache and a SIGKILL replay follow.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import unittest
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple
from urllib.parse import urlencode

from inprocess import InProcessServer
from support import (OBESITY, SAMPLE_CSV, Client, ServedTestCase, ServerProcess, assert_close,
                     wait_for)

from statsd.tools import synthetic

#: Copied from the contract, not imported from statsd.
LOWER_IS_BETTER = {
    "Percent of adults aged 18 years and older who have an overweight classification",
    "Percent of adults aged 18 years and older who have obesity",
    "Percent of adults who engage in no leisure-time physical activity",
    "Percent of adults who report consuming fruit less than one time daily",
    "Percent of adults who report consuming vegetables less than one time daily",
}

TOLERANCE = 0.01
#: Means closer than this are equal (float sums in another order differ by ~1e-14).
SAME = 1e-9

#: One of each kind of filter, and all of them at once.
FILTERS: List[Dict[str, object]] = [
    {"year_from": 2014, "year_to": 2017},
    {"year_from": 2019},
    {"year_to": 2012},
    {"year_from": 2016, "year_to": 2016},
    {"category": "Income"},
    {"category": "Age (years)", "stratification": "25 - 34"},
    {"year_from": 2012, "year_to": 2018, "category": "Gender", "stratification": "Female"},
]

NOT_STATE = ("states_mean", "best5", "worst5", "global_mean", "diff_from_mean", "mean_by_category")
WITH_STATE = ("state_mean", "state_diff_from_mean", "state_mean_by_category")


class FilterOracle:
    """Every answer computed from the rows a filter keeps, with no precomputed sums.

    The kept rows of a (question, filters) pair are found once by a loop over
    every row of the question and remembered: the comparisons ask the same
    pair a few thousand times, and the scan was most of their time.
    """

    def __init__(self, path: str) -> None:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            self.rows = [row for row in csv.DictReader(handle) if row["Data_Value"] != ""]
        self.abbreviations = {row["LocationDesc"]: row["LocationAbbr"] for row in self.rows}
        #: question -> its rows, only so that each answer loops over fewer rows
        self.rows_of: Dict[str, List[dict]] = {}
        for row in self.rows:
            self.rows_of.setdefault(row["Question"], []).append(row)
        self._kept: Dict[Tuple[str, str], List[Tuple[dict, float]]] = {}

    def questions(self) -> List[str]:
        return sorted({row["Question"] for row in self.rows})

    @staticmethod
    def keeps(row: dict, filters: Dict[str, Any]) -> bool:
        year = int(row["YearStart"])
        if "year_from" in filters and year < filters["year_from"]:
            return False
        if "year_to" in filters and year > filters["year_to"]:
            return False
        if "category" in filters and row["StratificationCategory1"] != filters["category"]:
            return False
        if "stratification" in filters and row["Stratification1"] != filters["stratification"]:
            return False
        return True

    def values(self, question: str, filters: Dict[str, Any]) -> List[Tuple[dict, float]]:
        """The rows of ``question`` that ``filters`` keep, each with its value (not to be changed)."""
        key = (question, json.dumps(filters, sort_keys=True))
        if key not in self._kept:
            self._kept[key] = [(row, float(row["Data_Value"])) for row in self.rows_of.get(question, ())
                               if self.keeps(row, filters)]
        return self._kept[key]

    @staticmethod
    def _mean(numbers: List[float]) -> float:
        return sum(numbers) / len(numbers)

    def global_mean(self, question: str, filters) -> Optional[float]:
        numbers = [value for _, value in self.values(question, filters)]
        return self._mean(numbers) if numbers else None

    def location_means(self, question: str, filters) -> Dict[str, float]:
        found: Dict[str, List[float]] = {}
        for row, value in self.values(question, filters):
            found.setdefault(row["LocationDesc"], []).append(value)
        return {location: self._mean(numbers) for location, numbers in found.items()}

    def group_means(self, question: str, filters, location: Optional[str] = None
                    ) -> Dict[Tuple[str, ...], float]:
        found: Dict[Tuple[str, ...], List[float]] = {}
        for row, value in self.values(question, filters):
            if location is None or row["LocationDesc"] == location:
                key: Tuple[str, ...] = (row["StratificationCategory1"], row["Stratification1"])
                if location is None:
                    key = (row["LocationDesc"],) + key
                found.setdefault(key, []).append(value)
        return {key: self._mean(numbers) for key, numbers in sorted(found.items())}

    def answer(self, endpoint: str, question: str, filters, state: Optional[str] = None):
        """The contract's ``data``, or None when the filters keep no row (a 400 then)."""
        overall = self.global_mean(question, filters)
        means = self.location_means(question, filters)
        if overall is None or (state is not None and state not in means):
            return None
        ascending = sorted(means.items(), key=lambda pair: (pair[1], pair[0]))
        descending = sorted(means.items(), key=lambda pair: (-pair[1], pair[0]))
        lower = question in LOWER_IS_BETTER
        if endpoint == "states_mean":
            return dict(ascending)
        if endpoint == "best5":
            return dict((ascending if lower else descending)[:5])
        if endpoint == "worst5":
            return dict((descending if lower else ascending)[:5])
        if endpoint == "global_mean":
            return {"global_mean": overall}
        if endpoint == "diff_from_mean":
            return {location: overall - mean for location, mean in ascending}
        if endpoint == "mean_by_category":
            return {repr(key): mean for key, mean in self.group_means(question, filters).items()}
        if state is None:
            raise ValueError(f"{endpoint} without a state")
        if endpoint == "state_mean":
            return {state: means[state]}
        if endpoint == "state_diff_from_mean":
            return {state: overall - means[state]}
        if endpoint == "state_mean_by_category":
            return {state: {repr(key): mean
                            for key, mean in self.group_means(question, filters, state).items()}}
        raise ValueError(endpoint)


if TYPE_CHECKING:  # what it is mixed into: the checker sees the TestCase methods
    _MixedInto = unittest.TestCase
else:  # not a TestCase itself, so that it is not collected as one
    _MixedInto = object


class OracleComparison(_MixedInto):
    """The comparisons, shared by the sample and the synthetic file (mixed into a TestCase)."""

    oracle: FilterOracle
    client: Client
    #: questions to ask (all of the sample; a few of the synthetic file)
    questions: List[str]

    def check(self, endpoint: str, question: str, filters: Dict[str, Any],
              state: Optional[str] = None) -> bool:
        """Ask, compare with the oracle; return whether there was data to compare."""
        body = dict(question=question, **filters)
        if state is not None:
            body["state"] = state
        where = f"{endpoint} {filters} {state or ''} / {question[:40]}"
        expected = self.oracle.answer(endpoint, question, filters, state)
        if expected is None:
            status, answer = self.client.post(endpoint, body)
            self.assertEqual(status, 400, f"{where}: {answer}")
            self.assertIn("no data for", answer["reason"])
            return False
        data = self.client.run(endpoint, body)
        if endpoint in ("states_mean", "diff_from_mean", "best5", "worst5"):
            # The same locations (best5/worst5: the same values in the same order; ties
            # at the fifth place may name either location), each with the oracle's number.
            self.assertEqual(len(data), len(expected), where)
            assert_close(self, list(data.values()), list(expected.values()), TOLERANCE, where)
            means = self.oracle.location_means(question, filters)
            overall = self.oracle.global_mean(question, filters)
            assert overall is not None  # expected is not None: some rows are kept
            for location, value in data.items():
                self.assertIn(location, means, where)
                wanted = means[location]
                if endpoint == "diff_from_mean":
                    wanted = overall - wanted
                self.assertLessEqual(abs(value - wanted), TOLERANCE, f"{where}: {location}")
            values = list(data.values())
            sign = -1 if endpoint == "diff_from_mean" else 1  # global minus an ascending mean
            if endpoint in ("states_mean", "diff_from_mean"):
                for before, after in zip(values, values[1:]):
                    self.assertLessEqual(sign * before, sign * after + SAME, f"{where}: order")
        else:
            assert_close(self, data, expected, TOLERANCE, where)
            self.assertEqual(list(data), list(expected), f"{where}: order")
            if endpoint == "state_mean_by_category":
                self.assertEqual(list(data[state]), list(expected[state]), f"{where}: order")
        return True

    def states_for(self, question: str, filters: Dict[str, object]) -> List[str]:
        """The first and the last location by name that the filters keep rows of, and the
        first one of the question that they keep none of (a 400 then), if there is one."""
        every = sorted(self.oracle.location_means(question, {}))
        kept = set(self.oracle.location_means(question, filters))
        chosen = [name for name in every if name in kept]
        chosen = chosen[:1] + chosen[-1:]
        return chosen + [name for name in every if name not in kept][:1]

    def test_every_statistic_with_every_kind_of_filter(self):
        answered: Dict[Tuple[str, str], int] = {}
        for filters in FILTERS:
            for question in self.questions:
                for endpoint in NOT_STATE:
                    with self.subTest(endpoint=endpoint, filters=filters, question=question):
                        key = (endpoint, json.dumps(filters))
                        answered[key] = answered.get(key, 0) + self.check(endpoint, question,
                                                                          filters)
                for endpoint in WITH_STATE:
                    for state in self.states_for(question, filters):
                        with self.subTest(endpoint=endpoint, filters=filters,
                                          question=question, state=state):
                            key = (endpoint, json.dumps(filters))
                            answered[key] = answered.get(key, 0) + self.check(
                                endpoint, question, filters, state)
        # Some filters leave a state or a question empty (a 400, checked above), but
        # every statistic was compared with data under every filter.
        self.assertEqual(len(answered), len(FILTERS) * (len(NOT_STATE) + len(WITH_STATE)))
        for key, count in answered.items():
            self.assertGreater(count, 0, key)

    def test_a_filter_without_effect_changes_no_number(self):
        """Null fields, and years around every row, give the bytes of the unfiltered answer."""
        question = self.questions[0]
        for endpoint in NOT_STATE:
            with self.subTest(endpoint=endpoint):
                plain = self.client.run(endpoint, {"question": question})
                nulls = self.client.run(endpoint, {
                    "question": question, "year_from": None, "year_to": None,
                    "category": None, "stratification": None})
                self.assertEqual(json.dumps(nulls), json.dumps(plain))
                wide = self.client.run(endpoint, {"question": question,
                                                  "year_from": 1900, "year_to": 2100})
                if endpoint in ("best5", "worst5"):  # ties at the fifth place may swap
                    assert_close(self, list(wide.values()), list(plain.values()), SAME, endpoint)
                else:
                    assert_close(self, wide, plain, SAME, endpoint)

    def test_unfiltered_means_are_plain_sums_in_file_order_to_the_last_bit(self):
        """Without filters, each mean is the float of the original service: the rows'
        values added one by one in file order, divided by their count (== , no tolerance)."""
        def plain(values):
            total = 0.0
            for value in values:
                total += value
            return total / len(values)

        for question in self.questions:
            with self.subTest(question=question[:40]):
                rows = self.oracle.values(question, {})
                by_location: Dict[str, List[float]] = {}
                by_group: Dict[Tuple[str, str, str], List[float]] = {}
                for row, value in rows:
                    by_location.setdefault(row["LocationDesc"], []).append(value)
                    by_group.setdefault((row["LocationDesc"], row["StratificationCategory1"],
                                         row["Stratification1"]), []).append(value)
                means = self.client.run("states_mean", {"question": question})
                self.assertEqual(means, {location: plain(values)
                                         for location, values in by_location.items()})
                overall = self.client.run("global_mean", {"question": question})
                self.assertEqual(overall, {"global_mean": plain([value for _, value in rows])})
                groups = self.client.run("mean_by_category", {"question": question})
                self.assertEqual(groups, {repr(key): plain(values)
                                          for key, values in sorted(by_group.items())})


class SampleFilterTest(OracleComparison, ServedTestCase):
    @classmethod
    def setUpClass(cls):
        cls.oracle = FilterOracle(SAMPLE_CSV)
        cls.questions = cls.oracle.questions()
        super().setUpClass()

    def test_sample_is_what_the_oracle_expects(self):
        self.assertEqual(len(self.questions), 9)
        self.assertEqual(len(self.oracle.rows), 1814)

    # -- filters that keep nothing -------------------------------------------

    def jobs(self) -> int:
        status, listing = self.client.get("/api/jobs")
        self.assertEqual(status, 200)
        return len(listing["data"])

    def assertRefused(self, endpoint: str, body: dict, *words: str) -> None:
        before = self.jobs()
        status, answer = self.client.post(endpoint, body)
        self.assertEqual(status, 400, answer)
        self.assertEqual(answer["status"], "error")
        for word in words:
            self.assertIn(word, answer["reason"])
        self.assertEqual(self.jobs(), before, "a refused request made a job")

    def test_bad_filter_values_are_400_naming_the_field(self):
        cases = [
            ({"year_from": "2015"}, "field 'year_from' must be an integer", "str"),
            ({"year_to": 2015.0}, "field 'year_to' must be an integer", "float"),
            ({"year_from": True}, "field 'year_from' must be an integer", "bool"),
            ({"year_to": [2015]}, "field 'year_to' must be an integer", "list"),
            ({"year_from": 2019, "year_to": 2015},
             "field 'year_from' (2019) is after field 'year_to' (2015)"),
            ({"category": 5}, "field 'category' must be a string", "int"),
            ({"category": "Height"}, "field 'category'", "unknown category 'Height'", "Income"),
            ({"category": "income"}, "field 'category'", "unknown category 'income'"),
            ({"stratification": "Male"}, "field 'stratification' needs field 'category'"),
            ({"category": "Gender", "stratification": "Other"}, "field 'stratification'",
             "unknown stratification 'Other' of category 'Gender'", "Female, Male"),
            ({"category": "Gender", "stratification": "25 - 34"},
             "unknown stratification '25 - 34' of category 'Gender'"),
            ({"category": "Gender", "stratification": False},
             "field 'stratification' must be a string"),
        ]
        for extra, *words in cases:
            for endpoint, state in (("best5", None), ("state_mean", "Ohio")):
                with self.subTest(extra=extra, endpoint=endpoint):
                    body = dict(question=OBESITY, **extra)
                    if state:
                        body["state"] = state
                    self.assertRefused(endpoint, body, *words)

    def test_a_filter_that_keeps_no_row_of_the_question_or_the_state(self):
        self.assertRefused("global_mean", {"question": OBESITY, "year_from": 2030},
                           "no data for question", OBESITY, "year_from=2030")
        self.assertRefused("state_mean", {"question": OBESITY, "state": "Ohio", "year_to": 1990},
                           "no data for state 'Ohio'", "year_to=1990")
        # A state with data for the question, but none in one year the question has.
        years = sorted({int(row["YearStart"]) for row, _ in self.oracle.values(OBESITY, {})})
        for location in sorted(self.oracle.location_means(OBESITY, {})):
            kept = {int(row["YearStart"]) for row, _ in self.oracle.values(OBESITY, {})
                    if row["LocationDesc"] == location}
            missing = [year for year in years if year not in kept]
            if missing:
                break
        else:
            self.fail("every location has every year")
        year = missing[0]
        filters = {"year_from": year, "year_to": year}
        for endpoint in WITH_STATE:
            with self.subTest(endpoint=endpoint):
                self.assertRefused(endpoint, dict(question=OBESITY, state=location, **filters),
                                   f"no data for state {location!r}", f"year_from={year}")
        # ... and the location is absent from the statistics of every location.
        data = self.client.run("states_mean", dict(question=OBESITY, **filters))
        self.assertNotIn(location, data)
        self.assertEqual(set(data), set(self.oracle.location_means(OBESITY, filters)))

    # -- location names ----------------------------------------------------------

    def test_state_by_letter_case_and_abbreviation(self):
        plain = self.client.run("state_mean_by_category", {"question": OBESITY, "state": "Ohio"})
        for name in ("ohio", "OHIO", "oHiO", "OH", "oh"):
            with self.subTest(name=name):
                data = self.client.run("state_mean_by_category",
                                       {"question": OBESITY, "state": name})
                self.assertEqual(json.dumps(data), json.dumps(plain))
        national = self.oracle.location_means(OBESITY, {})["National"]
        for name in ("US", "us", "national", "NATIONAL"):
            with self.subTest(name=name):
                data = self.client.run("state_mean", {"question": OBESITY, "state": name})
                assert_close(self, data, {"National": national}, TOLERANCE)
        filters = {"year_from": 2015, "category": "Income"}
        data = self.client.run("state_diff_from_mean",
                               dict(question=OBESITY, state="dc", **filters))
        expected = self.oracle.answer("state_diff_from_mean", OBESITY, filters,
                                      "District of Columbia")
        assert_close(self, data, expected, TOLERANCE)
        self.assertEqual(list(data), ["District of Columbia"])
        self.assertRefused("state_mean", {"question": OBESITY, "state": "Atlantis"},
                           "unknown state 'Atlantis'")
        self.assertRefused("state_mean", {"question": OBESITY, "state": "O H"},
                           "unknown state 'O H'")

    def test_states_with_abbreviations(self):
        status, body = self.client.get("/api/states?with=abbr")
        self.assertEqual(status, 200)
        expected = [{"name": name, "abbreviation": self.oracle.abbreviations[name]}
                    for name in sorted(self.oracle.abbreviations)]
        self.assertEqual(body["data"], expected)
        self.assertIn({"name": "National", "abbreviation": "US"}, body["data"])
        status, plain = self.client.get("/api/states")
        self.assertEqual(plain["data"], sorted(self.oracle.abbreviations))

    def test_categories_of_the_data_and_of_a_question(self):
        status, body = self.client.get("/api/categories")
        self.assertEqual(status, 200)
        expected: Dict[str, set] = {}
        for row in self.oracle.rows:
            expected.setdefault(row["StratificationCategory1"], set()).add(row["Stratification1"])
        self.assertEqual(body["data"], {category: sorted(expected[category])
                                        for category in sorted(expected)})
        question = self.questions[-1]
        status, body = self.client.get("/api/categories?" + _query(question=question))
        wanted: Dict[str, set] = {}
        for row, _ in self.oracle.values(question, {}):
            wanted.setdefault(row["StratificationCategory1"], set()).add(row["Stratification1"])
        self.assertEqual(body["data"], {category: sorted(wanted[category])
                                        for category in sorted(wanted)})
        status, body = self.client.get("/api/categories?" + _query(question=OBESITY, state="oh"))
        self.assertEqual(status, 200)
        self.assertEqual(sorted(body["data"]), sorted(
            {key[0] for key in self.oracle.group_means(OBESITY, {}, "Ohio")}))

    # -- the cache and the log -------------------------------------------------

    def test_jobs_with_different_filters_never_share_a_result(self):
        answers = {}
        for filters in ({}, {"year_from": 2016}, {"year_to": 2015}, {"category": "Income"},
                        {"category": "Income", "stratification": "Less than $15,000"}):
            data = self.client.run("global_mean", dict(question=OBESITY, **filters))
            again = self.client.run("global_mean", dict(question=OBESITY, **filters))
            self.assertEqual(again, data)
            assert_close(self, data, {"global_mean": self.oracle.global_mean(OBESITY, filters)})
            answers[json.dumps(filters)] = data["global_mean"]
        self.assertEqual(len(set(answers.values())), len(answers), answers)


class SyntheticFilterTest(OracleComparison, unittest.TestCase):
    """A synthetic file: several rows per cell, every group and year, rows without a value."""

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="statsd-filters-")
        path = os.path.join(cls.directory, "synthetic.csv")
        synthetic.write_csv(path, 12000, seed=7)
        cls.oracle = FilterOracle(path)
        # One question where lower is better and one where higher is.
        cls.questions = [OBESITY, next(question for question in cls.oracle.questions()
                                       if question not in LOWER_IS_BETTER)]
        cls.server = InProcessServer(options=("--data", path)).start()
        cls.client = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()
        shutil.rmtree(cls.directory, ignore_errors=True)

    def test_cells_hold_several_rows(self):
        cells: Dict[tuple, int] = {}
        for row in self.oracle.rows:
            key = (row["Question"], row["LocationDesc"], row["Stratification1"], row["YearStart"])
            cells[key] = cells.get(key, 0) + 1
        self.assertGreater(max(cells.values()), 1)


class ReplayTest(unittest.TestCase):
    """A journalled filtered job, killed with SIGKILL before its result is written, is
    replayed at the next start with its filters and its resolved state."""

    def test_filtered_jobs_replayed_after_sigkill(self):
        oracle = FilterOracle(SAMPLE_CSV)
        directory = tempfile.mkdtemp(prefix="statsd-filter-replay-")
        self.addCleanup(shutil.rmtree, directory, True)
        requests = [
            ("global_mean", {"question": OBESITY, "year_from": 2015, "year_to": 2018}),
            ("state_mean_by_category", {"question": OBESITY, "state": "oh",
                                        "category": "Age (years)"}),
            ("best5", {"question": OBESITY, "category": "Gender", "stratification": "Male",
                       "year_to": 2016}),
        ]
        first = ServerProcess("--threads", "1", directory=directory).start()
        self.addCleanup(first.stop)
        results = first.results
        # Every result write blocks half-way: its temporary file is a FIFO no one reads.
        for number in range(1, len(requests) + 1):
            os.mkfifo(os.path.join(results, f".job_id_{number}.json.tmp"))
        client = first.client()
        ids = []
        for endpoint, body in requests:
            status, answer = client.post(endpoint, body)
            self.assertEqual(status, 200, answer)
            ids.append(answer["job_id"])
        client.close()
        self.assertEqual(ids, ["job_id_1", "job_id_2", "job_id_3"])
        journal = os.path.join(results, "journal.jsonl")
        with open(journal, encoding="utf-8") as handle:
            lines = [json.loads(line) for line in handle]
        self.assertEqual(lines[1], {"job": 2, "endpoint": "state_mean_by_category",
                                    "question": OBESITY, "state": "Ohio",
                                    "category": "Age (years)"})
        self.assertEqual(lines[0]["year_from"], 2015)
        first.kill()  # SIGKILL, the first job stuck in its write

        second = ServerProcess("--threads", "1", directory=directory).start()
        self.addCleanup(second.stop)
        self.assertTrue(wait_for(lambda: "3 requeued" in second.log_text()),
                        second.log_text()[-2000:])
        client = second.client()
        self.addCleanup(client.close)
        for job_id, (endpoint, body) in zip(ids, requests):
            with self.subTest(job_id=job_id):
                result = client.wait_result(job_id)
                self.assertEqual(result["status"], "done", result)
                filters = {name: value for name, value in body.items()
                           if name not in ("question", "state")}
                state = "Ohio" if "state" in body else None
                expected = oracle.answer(endpoint, OBESITY, filters, state)
                assert_close(self, result["data"], expected, TOLERANCE, job_id)
                self.assertEqual(list(result["data"]), list(expected))


def _query(**params: str) -> str:
    return urlencode(params)


if __name__ == "__main__":
    unittest.main()
