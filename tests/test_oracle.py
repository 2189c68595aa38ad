"""The oracle (tests/reference.py) against the running server, for every statistic.

Why: it is compared with what the real server answers over HTTP, for every
endpoint, every question of the sample and several locations (territories
and the national figure included), with the checker's tolerance of 0.01 and
the order the contract fixes.
"""

from __future__ import annotations

import unittest
from typing import Dict, List

import reference
from reference import LOWER_IS_BETTER
from support import ServedTestCase, assert_close

LOCATIONS = ["National", "District of Columbia", "Guam", "Virgin Islands", "Puerto Rico",
             "Alabama", "Wyoming", "Massachusetts"]

TOLERANCE = 0.01
#: Means closer than this are equal (float sums in another order differ by ~1e-14).
SAME = 1e-9


class OracleTest(ServedTestCase):
    @classmethod
    def setUpClass(cls):
        cls.questions = reference.questions()
        super().setUpClass()

    def ask(self, endpoint: str, body: dict):
        return self.client.run(endpoint, body)

    def assertAscending(self, values: List[float], where: str) -> None:
        for before, after in zip(values, values[1:]):
            self.assertLessEqual(before, after + SAME, f"{where}: not ascending: {values}")

    def assertSameMeans(self, data: Dict[str, float], expected: Dict[str, float], where: str) -> None:
        """Every location returned has the oracle's mean (ties may come in any order)."""
        for location, value in data.items():
            self.assertIn(location, expected, where)
            self.assertLessEqual(abs(value - expected[location]), TOLERANCE,
                                 f"{where}[{location}]: {value} != {expected[location]}")

    def test_sample_is_what_the_oracle_expects(self):
        self.assertEqual(len(reference.rows()), 2031 - 217)  # rows with a Data_Value
        self.assertEqual(len(self.questions), 9)

    def test_states_mean(self):
        for question in self.questions:
            with self.subTest(question=question):
                data = self.ask("states_mean", {"question": question})
                expected = reference.means_of(question)
                assert_close(self, data, expected, TOLERANCE, question)
                self.assertAscending(list(data.values()), question)

    def test_state_mean(self):
        self.check_per_location("state_mean", lambda question, location, mean:
                                {location: mean})

    def test_best5_and_worst5(self):
        for question in self.questions:
            means = reference.means_of(question)
            lowest_first = sorted(means.values())
            highest_first = lowest_first[::-1]
            lower_is_better = question in LOWER_IS_BETTER
            expected = {"best5": (lowest_first if lower_is_better else highest_first)[:5],
                        "worst5": (highest_first if lower_is_better else lowest_first)[:5]}
            for endpoint, values in expected.items():
                with self.subTest(endpoint=endpoint, question=question):
                    data = self.ask(endpoint, {"question": question})
                    self.assertEqual(len(data), min(5, len(means)))
                    assert_close(self, list(data.values()), values, TOLERANCE, question)
                    self.assertSameMeans(data, means, question)

    def test_global_mean_is_over_rows(self):
        for question in self.questions:
            with self.subTest(question=question):
                data = self.ask("global_mean", {"question": question})
                assert_close(self, data, {"global_mean": reference.question_means()[question]}, TOLERANCE)

    def test_diff_from_mean(self):
        for question in self.questions:
            with self.subTest(question=question):
                overall = reference.question_means()[question]
                expected = {location: overall - mean
                            for location, mean in reference.means_of(question).items()}
                data = self.ask("diff_from_mean", {"question": question})
                assert_close(self, data, expected, TOLERANCE, question)
                # In the order of states_mean: global minus an ascending mean descends.
                self.assertAscending([-value for value in data.values()], question)
                order = list(self.ask("states_mean", {"question": question}))
                self.assertEqual(list(data), order, question)

    def test_state_diff_from_mean(self):
        self.check_per_location("state_diff_from_mean", lambda question, location, mean:
                                {location: reference.question_means()[question] - mean})

    def test_mean_by_category(self):
        for question in self.questions:
            with self.subTest(question=question):
                keys = []
                for location in reference.means_of(question):
                    for group, mean in reference.groups_of(question, location).items():
                        keys.append(((location,) + group, mean))
                keys.sort()
                expected = {repr(key): mean for key, mean in keys}
                data = self.ask("mean_by_category", {"question": question})
                assert_close(self, data, expected, TOLERANCE, question)
                self.assertEqual(list(data), list(expected), f"{question}: order of the tuples")

    def test_state_mean_by_category(self):
        def expected(question, location, mean):
            groups = sorted(reference.groups_of(question, location).items())
            return {location: {repr(group): value for group, value in groups}}

        for data, wanted, where in self.check_per_location("state_mean_by_category", expected):
            (location,) = wanted
            self.assertEqual(list(data[location]), list(wanted[location]), f"{where}: order")

    def check_per_location(self, endpoint, expected_for):
        """Compare ``endpoint`` for every question and LOCATION; a pair without data is a 400.

        Returns ``(data, expected, where)`` of the answered requests for further checks.
        """
        answered = []
        for question in self.questions:
            for location in LOCATIONS:
                where = f"{endpoint} {location} / {question}"
                with self.subTest(endpoint=endpoint, question=question, location=location):
                    body = {"question": question, "state": location}
                    mean = reference.location_means().get((question, location))
                    if mean is None:
                        status, answer = self.client.post(endpoint, body)
                        self.assertEqual(status, 400, f"{where}: {answer}")
                        self.assertEqual(answer["status"], "error")
                        self.assertIn(location, answer["reason"])
                        continue
                    data = self.ask(endpoint, body)
                    wanted = expected_for(question, location, mean)
                    assert_close(self, data, wanted, TOLERANCE, where)
                    answered.append((data, wanted, where))
        self.assertGreater(len(answered), len(self.questions), endpoint)
        return answered


if __name__ == "__main__":
    unittest.main()
