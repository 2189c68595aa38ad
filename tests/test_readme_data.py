"""The README's "Asking the data" session, replayed against a fresh server, gives its output.

Why: the section promises real answers of the bundled sample (filters,
location names, discovery, results as CSV); a change in a number, an error
message or a header must show up here, not in a user's terminal.  The
session is read out of README.md and sent with http.client, as
tests/test_readme.py does for the main session; a ``get_results`` that still
answers ``running`` is asked again, as a client would.
"""

import http.client
import json
import os
import time
import unittest

from support import PROJECT, ServerProcess
from test_readme import parse_curl

SECTION = "## Asking the data"


def section_session():
    """``[(curl command, expected output)]`` of every code block of the section."""
    with open(os.path.join(PROJECT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    steps = []
    inside = False
    for line in text[start:end].splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside and line.startswith("$ "):
            steps.append([line[2:], []])
        elif inside and steps:
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


class ReadmeDataSessionTest(unittest.TestCase):
    def test_section_reproduces_its_output(self):
        steps = section_session()
        self.assertGreaterEqual(len(steps), 10)
        with ServerProcess() as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            for command, expected in steps:
                method, path, body, limit = parse_curl(command)
                with self.subTest(command=command):
                    deadline = time.monotonic() + 10
                    while True:
                        connection.request(method, path, body=body)
                        raw = connection.getresponse().read()
                        if (not path.startswith("/api/get_results/") or time.monotonic() > deadline
                                or not raw.startswith(b"{") or json.loads(raw) != {"status": "running"}):
                            break
                        time.sleep(0.1)
                    if limit is not None:
                        raw = raw[:limit]
                    self.assertEqual(raw.decode("utf-8"), expected)
            connection.close()


if __name__ == "__main__":
    unittest.main()
