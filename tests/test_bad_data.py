"""Broken and messy CSV files: load what can be used, or refuse in one clear line.

Why: the data file comes from outside (a download, an export, a hand edit).
The server must either load it -- skipping the rows it cannot use and saying
how many and why -- or refuse to start with one line naming the file, the
line and the problem; never a traceback, never a wrong number.  Each file
here is written by the test, the expected means are worked out from the rows
the test wrote, and the real server answers over HTTP.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest
from statistics import mean

from inprocess import InProcessServer
from support import ServerProcess, assert_close

HEADER = ["YearStart", "LocationDesc", "Question", "Data_Value",
          "StratificationCategory1", "Stratification1", "Data_Value_Footnote"]

ASKED = "Percent of adults who eat, drink, and move"  # a comma inside: quoted in the CSV
SILENT = "Percent of adults with no data at all"  # every row lacks a Data_Value
INCOME = ("Income", "$50,000 - $74,999")


def csv_line(fields) -> str:
    """One CSV line, quoting the fields that need it (the test's own little writer)."""
    out = []
    for field in fields:
        text = str(field)
        if any(char in text for char in ',"\r\n'):
            text = '"' + text.replace('"', '""') + '"'
        out.append(text)
    return ",".join(out)


class DataFiles(unittest.TestCase):
    """A temporary directory for the CSV files of a test."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="statsd-data-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def write(self, name: str, content: bytes) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "wb") as handle:
            handle.write(content)
        return path

    def assert_refused(self, path: str, line, problem: str) -> None:
        """The server exits 2 with one line on its output naming file, line and problem."""
        server = ServerProcess(data=path)
        self.addCleanup(server.stop)
        with self.assertRaises(RuntimeError):
            server.start()
        assert server.process is not None
        self.assertEqual(server.process.wait(10), 2)
        lines = server.output.strip().splitlines()
        self.assertEqual(len(lines), 1, server.output)
        where = f"{path}: line {line}: " if line else f"{path}: "
        self.assertTrue(lines[0].startswith(f"statsd: error: {where}"), lines[0])
        self.assertIn(problem, lines[0])
        self.assertNotIn("Traceback", server.output)


class MessyButUsableFileTest(DataFiles):
    """BOM, CRLF, quoted commas, an index column, blank lines, bad rows, a cut last line."""

    def test_loads_skips_and_says_why(self):
        good = [  # (year, location, value, category, stratification)
            (2011, "Ohio", 30.5, "Total", "Total"),
            (2012, "Ohio", 31.5, *INCOME),
            (2013, "Ohio", 29.0, *INCOME),
            (2011, "Guam", 40.25, "Total", "Total"),
            (2012, "Guam", 41.0, "Gender", "Female"),
            (2011, "National", 35.0, "Total", "Total"),
        ]
        lines = [[""] + HEADER]  # a leading unnamed index column
        for index, (year, location, value, category, stratification) in enumerate(good):
            lines.append([index, year, location, ASKED, value, category, stratification, ""])
            if index == 1:
                lines.append([])  # a blank line
        lines.append([90, 2014, "Ohio", ASKED, "~", "Total", "Total", "footnote"])  # non-numeric
        non_numeric_line = len(lines)
        lines.append([91, 2014, "Ohio", ASKED, "", "Total", "Total", "sample too small"])
        lines.append([92, 2014, "Ohio", SILENT, "", "Total", "Total", "no data"])
        lines.append([93, 2014, "Ohio", ASKED, "12"])  # too few fields
        short_line = len(lines)
        text = "\r\n".join(csv_line(line) for line in lines)
        text += "\r\n" + csv_line([94, 2015, "Ohio", ASKED, "99", "Total"])[:-3]  # cut short
        path = self.write("messy.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))

        with ServerProcess(data=path) as server:
            client = server.client()
            self.addCleanup(client.close)
            by_location = {}
            for year, location, value, *_ in good:
                by_location.setdefault(location, []).append(value)
            expected = {location: mean(values) for location, values in by_location.items()}
            ordered = dict(sorted(expected.items(), key=lambda pair: pair[1]))
            data = client.run("states_mean", {"question": ASKED})
            assert_close(self, data, ordered)
            self.assertEqual(list(data), list(ordered))
            assert_close(self, client.run("global_mean", {"question": ASKED}),
                         {"global_mean": mean(row[2] for row in good)})
            by_group = client.run("state_mean_by_category", {"question": ASKED, "state": "Ohio"})
            assert_close(self, by_group, {"Ohio": {
                "('Income', '$50,000 - $74,999')": mean([31.5, 29.0]),
                "('Total', 'Total')": 30.5}})
            # A question whose every row lacks a value: a clear 400, not a crash.
            status, answer = client.post("best5", {"question": SILENT})
            self.assertEqual(status, 400)
            self.assertIn("no data for question", answer["reason"])
            status, answer = client.post("state_mean", {"question": ASKED, "state": "Atlantis"})
            self.assertEqual(status, 400)
            log = server.log_text()
        summary = next(line for line in log.splitlines() if "loaded 6 rows" in line)
        self.assertIn(f"1 rows with a non-numeric Data_Value (first at line {non_numeric_line})", summary)
        self.assertIn(f"2 rows with a wrong number of fields (first at line {short_line})", summary)
        self.assertIn("2 rows without a Data_Value", summary)
        self.assertNotIn("Traceback", log)

    def test_a_state_without_data_for_the_question_is_400(self):
        lines = [HEADER,
                 [2011, "Ohio", ASKED, 10, "Total", "Total", ""],
                 [2011, "Guam", ASKED, "", "Total", "Total", "no data"],
                 [2011, "Guam", "Another question", 20, "Total", "Total", ""]]
        path = self.write("holes.csv", "\n".join(csv_line(line) for line in lines).encode())
        with InProcessServer(options=("--data", path)) as server:
            client = server.client()
            self.addCleanup(client.close)
            status, answer = client.post("state_mean", {"question": ASKED, "state": "Guam"})
            self.assertEqual((status, answer["status"]), (400, "error"))
            self.assertIn("no data for state 'Guam'", answer["reason"])
            self.assertEqual(client.run("states_mean", {"question": ASKED}), {"Ohio": 10.0})


class UnusableFileTest(DataFiles):
    """Files the server cannot serve: exit 2 and one line naming file, line and problem."""

    def rows(self, *rows) -> bytes:
        return "\n".join(csv_line(row) for row in (HEADER,) + rows).encode() + b"\n"

    def test_missing_column(self):
        header = ",".join(name for name in HEADER if name != "Data_Value")
        path = self.write("no-value.csv", f"{header}\n2011,Ohio,{ASKED},Total,Total,\n".encode())
        self.assert_refused(path, 1, "missing column 'Data_Value'")

    def test_not_utf8_names_the_line(self):
        row = [2011, "Ohio", ASKED, 10, "Total", "Total", ""]
        latin1 = [2011, "Ni\u00f1o", ASKED, 10, "Total", "Total", ""]
        content = self.rows(row, row, row) + csv_line(latin1).encode("latin-1") + b"\n"
        content += self.rows(row)  # more good lines after the bad one (line 5)
        self.assert_refused(self.write("latin.csv", content), 5, "not UTF-8")

    def test_field_over_the_csv_limit(self):
        row = [2011, "Ohio", ASKED, 10, "Total", "Total", "x" * 200000]
        content = self.rows([2011, "Ohio", ASKED, 10, "Total", "Total", ""], row)
        self.assert_refused(self.write("wide.csv", content), 3, "malformed CSV")

    def test_empty_file(self):
        self.assert_refused(self.write("empty.csv", b""), 1, "empty file")

    def test_no_row_with_a_value(self):
        content = self.rows([2011, "Ohio", ASKED, "", "Total", "Total", "no data"])
        self.assert_refused(self.write("hollow.csv", content), None, "no row has a Data_Value")

    def test_missing_file(self):
        self.assert_refused(os.path.join(self.directory, "absent.csv"), None, "cannot open")


if __name__ == "__main__":
    unittest.main()
