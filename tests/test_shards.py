"""``make test``'s split of the suite (``tests/shards.py``): every test file runs once.

Why: a file left out of both runs would pass in silence, and a file in both
would run twice; the split must also keep the two longest files apart, or
the runs side by side take as long as one.
"""

import unittest

import shards


class SplitTest(unittest.TestCase):
    def setUp(self):
        self.files = shards.test_files()

    def test_every_test_file_is_in_exactly_one_run(self):
        for count in (1, 2, 3):
            with self.subTest(shards=count):
                groups = shards.split(self.files, count)
                self.assertEqual(len(groups), count)
                every = [name for group in groups for name in group]
                self.assertEqual(sorted(every), self.files)
                self.assertIn("tests/test_shards.py", every)

    def test_the_two_longest_files_go_to_different_runs(self):
        first, second = shards.split(self.files, 2)
        self.assertIn("tests/test_browser.py", first + second)
        self.assertNotEqual("tests/test_browser.py" in first, "tests/test_bench.py" in first)

    def test_more_runs_than_files_leaves_no_empty_run(self):
        groups = shards.split(["tests/test_a.py", "tests/test_b.py"], 5)
        self.assertEqual(groups, [["tests/test_a.py"], ["tests/test_b.py"]])


if __name__ == "__main__":
    unittest.main()
