"""The synthetic BRFSS generator: the public file's schema, deterministic, any size.

The benchmark's figures only mean something if its files look like the public
file to the loader, so the schema is checked against the real extract in
data/ (read with the csv module, not with statsd), and the file is loaded by
statsd to check that every row is read and every question and location found.
"""

import csv
import os
import tempfile
import unittest

from support import SAMPLE_CSV

from statsd.tools import synthetic
from statsd.ingest import load_csv


def read_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


class SyntheticSchemaTest(unittest.TestCase):
    ROWS = 3000

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="statsd-synthetic-")
        cls.path = os.path.join(cls.directory, "brfss.csv")
        synthetic.write_csv(cls.path, cls.ROWS)
        cls.header, *cls.rows = read_rows(cls.path)
        sample_header, *sample_rows = read_rows(SAMPLE_CSV)
        cls.sample_header = sample_header
        cls.sample = [dict(zip(sample_header, row)) for row in sample_rows]
        cls.records = [dict(zip(cls.header, row)) for row in cls.rows]

    @classmethod
    def tearDownClass(cls):
        for name in os.listdir(cls.directory):
            os.unlink(os.path.join(cls.directory, name))
        os.rmdir(cls.directory)

    def values(self, records, *columns):
        return {tuple(record[column] for column in columns) for record in records}

    def test_header_is_the_public_files(self):
        self.assertEqual(self.header, self.sample_header)

    def test_row_count_and_width(self):
        self.assertEqual(len(self.rows), self.ROWS)
        self.assertTrue(all(len(row) == len(self.header) for row in self.rows))

    def test_questions_locations_and_stratifications_are_the_real_ones(self):
        for columns in (("Question", "QuestionID", "Class", "ClassID", "Topic", "TopicID"),
                        ("LocationDesc", "LocationAbbr", "LocationID"),
                        ("StratificationCategory1", "Stratification1",
                         "StratificationCategoryId1", "StratificationID1")):
            with self.subTest(columns=columns[0]):
                self.assertEqual(self.values(self.records, *columns),
                                 self.values(self.sample, *columns))
        self.assertEqual(len(self.values(self.records, "Question")), 9)
        self.assertEqual(len(self.values(self.records, "LocationDesc")), 55)
        self.assertEqual(len(self.values(self.records, "StratificationCategory1")), 6)

    def test_stratification_value_is_in_its_own_column(self):
        columns = {"Total": "Total", "Age (years)": "Age(years)", "Education": "Education",
                   "Gender": "Gender", "Income": "Income", "Race/Ethnicity": "Race/Ethnicity"}
        for record in self.records[:500]:
            self.assertEqual(record[columns[record["StratificationCategory1"]]],
                             record["Stratification1"])

    def test_years_and_values(self):
        years = {int(record["YearStart"]) for record in self.records}
        self.assertEqual(years, set(range(2011, 2023)))
        self.assertTrue(all(record["YearEnd"] == record["YearStart"] for record in self.records))
        for record in self.records:
            if record["Data_Value"]:
                self.assertTrue(0 < float(record["Data_Value"]) < 100)
                self.assertEqual(record["Data_Value_Alt"], record["Data_Value"])

    def test_some_rows_have_no_value_and_carry_the_footnote(self):
        empty = [record for record in self.records if not record["Data_Value"]]
        self.assertTrue(0.03 * self.ROWS < len(empty) < 0.2 * self.ROWS, len(empty))
        self.assertEqual(self.values(empty, "Data_Value_Footnote_Symbol", "Data_Value_Footnote"),
                         self.values([r for r in self.sample if not r["Data_Value"]],
                                     "Data_Value_Footnote_Symbol", "Data_Value_Footnote"))

    def test_statsd_loads_every_row(self):
        dataset = load_csv(self.path)
        empty = sum(1 for record in self.records if not record["Data_Value"])
        self.assertEqual(dataset.rows_read, self.ROWS)
        self.assertEqual(dataset.rows_loaded, self.ROWS - empty)
        self.assertEqual(len(dataset.questions), 9)
        self.assertEqual(len(dataset.locations), 55)


class SyntheticDeterminismTest(unittest.TestCase):
    def test_same_seed_same_rows_other_seed_other_rows(self):
        first = list(synthetic.generate_rows(200, seed=5))
        self.assertEqual(first, list(synthetic.generate_rows(200, seed=5)))
        self.assertNotEqual(first, list(synthetic.generate_rows(200, seed=6)))
        # A longer file starts with the rows of a shorter one.
        self.assertEqual(list(synthetic.generate_rows(300, seed=5))[:200], first)

    def test_written_files_are_identical(self):
        with tempfile.TemporaryDirectory() as directory:
            paths = [os.path.join(directory, f"{name}.csv") for name in "ab"]
            for path in paths:
                synthetic.write_csv(path, 500, seed=9)
            with open(paths[0], "rb") as first, open(paths[1], "rb") as second:
                self.assertEqual(first.read(), second.read())

    def test_command_line_writes_the_file(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "cli.csv")
            self.assertEqual(synthetic.main(["25", path, "--seed", "3"]), 0)
            header, *rows = read_rows(path)
            self.assertEqual(len(rows), 25)
            self.assertEqual(rows, list(synthetic.generate_rows(25, seed=3)))


if __name__ == "__main__":
    unittest.main()
