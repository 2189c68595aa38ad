"""Replay the 108 shared conformance cases against the running server.

The expected results were computed independently of statsd; this test plays
the original checker: POST the body, poll get_results every 0.2 s, compare
with a tolerance of 0.01, and check the order the contract asks for.
"""

import unittest

from support import ServedTestCase, assert_close, conformance_cases


class ConformanceTest(ServedTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cases = conformance_cases()
        super().setUpClass()

    def test_all_cases_present(self):
        self.assertEqual(len(self.cases), 108)
        self.assertEqual(len({endpoint for endpoint, *_ in self.cases}), 9)

    def test_every_case_matches(self):
        for endpoint, name, body, expected in self.cases:
            with self.subTest(case=name):
                data = self.client.run(endpoint, body)
                assert_close(self, data, expected, where=name)
                # The contract fixes the order of keys; the expected files carry it.
                self.assertEqual(list(data), list(expected), f"{name}: key order")
                if endpoint == "state_mean_by_category":
                    (state,) = expected
                    self.assertEqual(list(data[state]), list(expected[state]), f"{name}: inner order")


if __name__ == "__main__":
    unittest.main()
