"""The loader: every shape of the public CSV it must accept, and every file it must refuse.

Why: the public file has been published with and without a pandas index
column, with a byte order mark, with CRLF line ends; its fields hold commas in
quotes; some rows carry no value or a footnote instead.  A loader that gets
any of these wrong still starts and serves wrong numbers, so each shape is
checked on a few rows whose sums are worked out by hand.
"""

from __future__ import annotations

import gc
import os
import random
import re
import shutil
import tempfile
import unittest
from unittest import mock

from support import OBESITY, data_row, original_header, write_csv

from statsd import ingest
from statsd.ingest import REQUIRED_COLUMNS, DataError, load_csv

INCOME = "Income"
COMMA_QUESTION = "Percent of adults, aged 18 and older, who eat well"

#   obesity: Alabama 30 (2011), 34 (2012), "" (skipped)   -> 64 / 2
#            Guam    41 (2011)                            -> 41
#   comma question: Alabama 10 in the income group "$25,000 - $34,999"
ROWS = [
    data_row(OBESITY, "Alabama", "30", INCOME, "$25,000 - $34,999", "2011"),
    data_row(OBESITY, "Alabama", "34", INCOME, "$25,000 - $34,999", "2012"),
    data_row(OBESITY, "Alabama", "", INCOME, "Less than $15,000", "2012"),
    data_row(OBESITY, "Guam", "41", year="2011"),
    data_row(COMMA_QUESTION, "Alabama", "10", INCOME, "$25,000 - $34,999", "2013"),
]


class IngestTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="statsd-ingest-")

    def tearDown(self):
        shutil.rmtree(self.directory, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.directory, name)

    def write_text(self, name, text, encoding="utf-8"):
        with open(self.path(name), "w", encoding=encoding, newline="") as handle:
            handle.write(text)
        return self.path(name)

    def assertSmallDataset(self, dataset):
        """The hand-worked content of ROWS, whatever the file's shape."""
        self.assertEqual(sorted(dataset.questions), sorted([OBESITY, COMMA_QUESTION]))
        obesity = dataset.questions[OBESITY]
        self.assertEqual((obesity.overall.total, obesity.overall.count), (105.0, 3))  # 30+34+41
        alabama = obesity.locations["Alabama"]
        self.assertEqual((alabama.overall.total, alabama.overall.count), (64.0, 2))  # 30+34
        self.assertEqual(alabama.overall.mean, 32.0)
        # Only the group with values; "Less than $15,000" had just an empty row.
        self.assertEqual(list(alabama.groups), [(INCOME, "$25,000 - $34,999")])
        self.assertEqual(obesity.locations["Guam"].overall.mean, 41.0)
        comma = dataset.questions[COMMA_QUESTION].locations["Alabama"]
        self.assertEqual(comma.overall.mean, 10.0)
        self.assertEqual(list(comma.groups), [(INCOME, "$25,000 - $34,999")])
        self.assertEqual(dataset.rows_loaded, 4)
        self.assertEqual(dataset.skipped["rows without a Data_Value"], 1)
        self.assertEqual(dataset.locations, ["Alabama", "Guam"])

    # -- shapes that must load the same -------------------------------------

    def test_original_header(self):
        self.assertSmallDataset(load_csv(write_csv(self.path("plain.csv"), ROWS)))

    def test_leading_unnamed_index_column(self):
        path = write_csv(self.path("indexed.csv"), ROWS, index_column=True)
        with open(path, encoding="utf-8") as handle:
            self.assertTrue(handle.readline().startswith(",YearStart,"))
        self.assertSmallDataset(load_csv(path))

    def test_byte_order_mark(self):
        path = write_csv(self.path("bom.csv"), ROWS, bom=True)
        with open(path, "rb") as handle:
            self.assertEqual(handle.read(3), b"\xef\xbb\xbf")
        self.assertSmallDataset(load_csv(path))

    def test_byte_order_mark_and_index_column(self):
        self.assertSmallDataset(load_csv(write_csv(self.path("both.csv"), ROWS, bom=True,
                                                   index_column=True)))

    def test_crlf_line_ends(self):
        path = write_csv(self.path("crlf.csv"), ROWS, line_end="\r\n")
        with open(path, "rb") as handle:
            self.assertEqual(handle.read().count(b"\r\n"), len(ROWS) + 1)
        self.assertSmallDataset(load_csv(path))

    def test_quoted_fields_with_commas_and_blank_lines(self):
        # Written by hand, as the public file quotes: GeoLocation and some
        # stratifications hold commas; a quoted field may hold a quote too.
        # Blank lines (also between CRLF rows) are neither rows nor errors.
        path = self.write_text("quoted.csv", (
            "YearStart,LocationDesc,Question,Data_Value,GeoLocation,"
            "StratificationCategory1,Stratification1,Data_Value_Footnote\r\n"
            "\r\n"
            '2011,Alabama,Percent of adults aged 18 years and older who have obesity,30,'
            '"(32.84057112200048, -86.63186076199969)",Income,"$25,000 - $34,999",\r\n'
            '2012,Alabama,Percent of adults aged 18 years and older who have obesity,34,'
            '"(32.84057112200048, -86.63186076199969)",Income,"$25,000 - $34,999",\r\n'
            "\n"
            '2012,Alabama,Percent of adults aged 18 years and older who have obesity,,'
            '"(32.8, -86.6)",Income,"Less than $15,000",'
            '"Data not available because sample size is insufficient, ""see"" notes"\r\n'
            '2011,Guam,Percent of adults aged 18 years and older who have obesity,41,'
            '"(13.444304, 144.793731)",Total,Total,\r\n'
            '2013,Alabama,"Percent of adults, aged 18 and older, who eat well",10,'
            ',Income,"$25,000 - $34,999",\r\n'
            "\r\n"))
        dataset = load_csv(path)
        self.assertSmallDataset(dataset)
        self.assertEqual(sum(dataset.skipped.values()), 1)  # the empty value, not the blank lines

    # -- rows that are skipped and counted -----------------------------------

    def test_non_numeric_value_skipped_and_counted(self):
        rows = ROWS + [data_row(OBESITY, "Guam", "~", year="2012"),   # file line 7
                       data_row(OBESITY, "Guam", "n/a", year="2013")]  # file line 8
        dataset = load_csv(write_csv(self.path("footnotes.csv"), rows))
        self.assertSmallDataset(dataset)
        self.assertEqual(dataset.skipped["rows with a non-numeric Data_Value"], 2)
        self.assertEqual(dataset.first_skipped_line["rows with a non-numeric Data_Value"], 7)

    def test_row_with_wrong_number_of_fields_skipped(self):
        path = write_csv(self.path("short.csv"), ROWS)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("2011,2011,AL,Alabama\n")  # line 7: a truncated row
        dataset = load_csv(path)
        self.assertSmallDataset(dataset)
        self.assertEqual(dataset.skipped["rows with a wrong number of fields"], 1)
        self.assertEqual(dataset.first_skipped_line["rows with a wrong number of fields"], 7)

    def test_summary_line(self):
        rows = ROWS + [data_row(OBESITY, "Guam", "~", year="2012")]  # file line 7
        path = write_csv(self.path("summary.csv"), rows)
        summary = load_csv(path).summary()
        self.assertNotIn("\n", summary)
        # 4 rows with a value; 2 questions; Alabama and Guam.
        self.assertRegex(summary, "^" + re.escape(
            f"loaded 4 rows from {path} (2 questions, 2 locations) in ") + r"\d+\.\d\d s; ")
        self.assertIn("1 rows with a non-numeric Data_Value (first at line 7)", summary)
        self.assertIn("1 rows without a Data_Value", summary)

    def test_summary_without_skipped_rows(self):
        path = write_csv(self.path("clean.csv"), [data_row(OBESITY, "Guam", "41")])
        summary = load_csv(path).summary()
        self.assertRegex(summary, "^" + re.escape(
            f"loaded 1 rows from {path} (1 questions, 1 locations) in ") + r"\d+\.\d\d s$")

    def test_year_grouping(self):
        rows = ROWS + [data_row(OBESITY, "Alabama", "38", "Total", "Total", "2012")]
        alabama = load_csv(write_csv(self.path("years.csv"), rows)).questions[OBESITY].locations["Alabama"]
        years = {year: (acc.total, acc.count) for year, acc in alabama.years.items()}
        # 2011: 30; 2012: 34 + 38 (the empty 2012 row does not count).
        self.assertEqual(years, {2011: (30.0, 1), 2012: (72.0, 2)})
        self.assertEqual(alabama.years[2012].mean, 36.0)
        # Groups cut across years: (Income, $25,000 - $34,999) holds 2011 and 2012.
        self.assertEqual(alabama.groups[(INCOME, "$25,000 - $34,999")].mean, 32.0)
        self.assertEqual(alabama.groups[("Total", "Total")].mean, 38.0)

    def test_cells_sum_each_group_in_each_year(self):
        rows = ROWS + [data_row(OBESITY, "Alabama", "38", INCOME, "$25,000 - $34,999", "2012"),
                       data_row(OBESITY, "Alabama", "20", "Total", "Total", "n/a")]
        dataset = load_csv(write_csv(self.path("cells.csv"), rows))
        alabama = dataset.questions[OBESITY].locations["Alabama"]
        cells = {dataset.cells[number]: (total, count)
                 for number, total, count in alabama.cells()}
        # (Income, $25,000 - $34,999): 30 in 2011, 34 + 38 in 2012; a YearStart that is
        # not a number is its own cell, with year None (kept by no year range).
        self.assertEqual(cells, {
            (INCOME, "$25,000 - $34,999", 2011): (30.0, 1),
            (INCOME, "$25,000 - $34,999", 2012): (72.0, 2),
            ("Total", "Total", None): (20.0, 1)})
        # The group and the location still hold every row, the odd year included.
        self.assertEqual(alabama.groups[("Total", "Total")].mean, 20.0)
        self.assertEqual((alabama.overall.total, alabama.overall.count), (122.0, 4))
        self.assertEqual({year: sums.count for year, sums in alabama.years.items()},
                         {2011: 1, 2012: 2})

    def test_location_abbreviation_is_read_when_there(self):
        rows = [dict(row, LocationAbbr={"Alabama": "AL", "Guam": "GU"}[row["LocationDesc"]])
                for row in ROWS]
        dataset = load_csv(write_csv(self.path("abbr.csv"), rows))
        self.assertSmallDataset(dataset)
        self.assertEqual(dataset.abbreviations, {"Alabama": "AL", "Guam": "GU"})
        self.assertEqual(dataset.location_names["gu"], "Guam")
        self.assertEqual(dataset.location_names["alabama"], "Alabama")

    def test_location_abbreviation_column_is_optional(self):
        header = [name for name in original_header() if name != "LocationAbbr"]
        dataset = load_csv(write_csv(self.path("no-abbr.csv"), ROWS, header=header))
        self.assertSmallDataset(dataset)
        self.assertEqual(dataset.abbreviations, {})
        self.assertEqual(dataset.location_names, {"alabama": "Alabama", "guam": "Guam"})

    # -- sums against a plain loop over the rows ----------------------------

    def mixed_rows(self, count, seed):
        """``count`` rows in random order over 3 questions, 4 locations, 5 groups, 4 years,
        with the same values met again and again, and some rows to skip."""
        draw = random.Random(seed)
        groups = [("Total", "Total"), (INCOME, "$25,000 - $34,999"), (INCOME, "Less than $15,000"),
                  ("Gender", "Male"), ("Gender", "Female")]
        rows = []
        for _ in range(count):
            category, stratification = draw.choice(groups)
            value = draw.choice(["30.1", "30.1", "0.3", "17", " 17 ", "99.9", "2.5e1", "",
                                 "~", "nan", "-inf", f"{draw.random() * 100:.3f}"])
            rows.append(data_row(draw.choice([OBESITY, COMMA_QUESTION, "Percent who walk"]),
                                 draw.choice(["Alabama", "Guam", "Ohio", "National"]), value,
                                 category, stratification, draw.choice(["2011", "2012", "2013", "x"])))
        return rows

    def assertPlainSums(self, dataset, rows):
        """Every sum the loader keeps equals a plain loop over the kept rows in file order."""
        question_sums, place_sums, group_sums, cell_sums = {}, {}, {}, {}

        def add(sums, key, value):
            total, count = sums.get(key, (0.0, 0))
            sums[key] = (total + value, count + 1)

        kept = 0
        for row in rows:
            try:
                value = float(row["Data_Value"])
            except ValueError:
                continue
            if value != value or value in (float("inf"), float("-inf")):
                continue
            kept += 1
            question, location = row["Question"], row["LocationDesc"]
            group = (row["StratificationCategory1"], row["Stratification1"])
            add(question_sums, question, value)
            add(place_sums, (question, location), value)
            add(group_sums, (question, location) + group, value)
            add(cell_sums, (question, location) + group + (row["YearStart"],), value)
        self.assertEqual(dataset.rows_loaded, kept)
        self.assertEqual({question: (data.overall.total, data.overall.count)
                          for question, data in dataset.questions.items()}, question_sums)
        found_places, found_groups, found_cells = {}, {}, {}
        for question, data in dataset.questions.items():
            for location, place in data.locations.items():
                found_places[(question, location)] = (place.overall.total, place.overall.count)
                for group, sums in place.groups.items():
                    found_groups[(question, location) + group] = (sums.total, sums.count)
                for number, total, count in place.cells():
                    cell = dataset.cells[number]
                    year = "x" if cell.year is None else str(cell.year)
                    found_cells[(question, location, cell.category, cell.stratification,
                                 year)] = (total, count)
        self.assertEqual(found_places, place_sums)
        self.assertEqual(found_groups, group_sums)
        self.assertEqual(found_cells, cell_sums)

    def test_sums_equal_a_plain_loop_in_file_order(self):
        """Places, groups and cells first met at any point of the file (the loader grows
        its sums as they come) hold exactly the floats of a plain loop over the rows."""
        for seed in range(3):
            with self.subTest(seed=seed):
                rows = self.mixed_rows(600, seed)
                self.assertPlainSums(load_csv(write_csv(self.path(f"mixed{seed}.csv"), rows)), rows)

    def test_sums_hold_once_the_remembered_values_are_full(self):
        """Past VALUE_MEMORY distinct texts, new values are parsed every time: same sums."""
        rows = self.mixed_rows(600, 7)
        with mock.patch.object(ingest, "VALUE_MEMORY", 2):
            dataset = load_csv(write_csv(self.path("full.csv"), rows))
        self.assertPlainSums(dataset, rows)

    def test_values_read_again_are_the_same_floats(self):
        """The sums are those of float() of each text (" 30.1" and "30.1" alike), and texts
        that are no finite number are skipped, with their reason, however often they come."""
        rows = [data_row(OBESITY, "Guam", text) for text in
                ["30.1", "30.1", " 30.1", "~", "~", "nan", "nan", "inf", "1e400", "30.1"]]
        dataset = load_csv(write_csv(self.path("again.csv"), rows))
        guam = dataset.questions[OBESITY].locations["Guam"]
        self.assertEqual((guam.overall.total, guam.overall.count), (30.1 + 30.1 + 30.1 + 30.1, 4))
        self.assertEqual(dataset.skipped["rows with a non-numeric Data_Value"], 2)
        self.assertEqual(dataset.first_skipped_line["rows with a non-numeric Data_Value"], 5)
        self.assertEqual(dataset.skipped["rows with a non-finite Data_Value"], 4)
        self.assertEqual(dataset.first_skipped_line["rows with a non-finite Data_Value"], 7)

    # -- files that are refused ---------------------------------------------

    def assertDataError(self, path, *words):
        with self.assertRaises(DataError) as caught:
            load_csv(path)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for word in words:
            self.assertIn(word, message)

    def test_missing_file(self):
        self.assertDataError(self.path("nowhere.csv"), self.path("nowhere.csv"))

    def test_directory_instead_of_file(self):
        self.assertDataError(self.directory, self.directory)

    def test_missing_column(self):
        for column in REQUIRED_COLUMNS:
            with self.subTest(column=column):
                header = [name for name in original_header() if name != column]
                path = write_csv(self.path("missing.csv"), ROWS, header=header)
                self.assertDataError(path, path, repr(column))

    def test_empty_file(self):
        self.assertDataError(self.write_text("empty.csv", ""), self.path("empty.csv"))

    def test_no_row_with_a_value(self):
        path = write_csv(self.path("blank.csv"), [data_row(OBESITY, "Guam", "")])
        self.assertDataError(path, path, "Data_Value")

    def test_not_utf8(self):
        path = write_csv(self.path("latin1.csv"), ROWS)
        with open(path, "ab") as handle:
            handle.write(b"2011,2011,PR,Puerto Rico \xe9\xe9\n")
        self.assertDataError(path, path, "UTF-8")

    def test_garbage_collector_is_back_on_after_a_load(self):
        """The loader pauses the cyclic collector; a good or a failed load gives it back."""
        good = write_csv(self.path("good.csv"), ROWS)
        bad = self.write_text("empty.csv", "")
        self.assertTrue(gc.isenabled())
        self.assertSmallDataset(load_csv(good))
        self.assertTrue(gc.isenabled())
        with self.assertRaises(DataError):
            load_csv(bad)
        self.assertTrue(gc.isenabled())
        gc.disable()  # a caller that keeps it off has it kept off
        try:
            load_csv(good)
            self.assertFalse(gc.isenabled())
        finally:
            gc.enable()


if __name__ == "__main__":
    unittest.main()
