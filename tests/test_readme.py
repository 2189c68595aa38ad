"""The README's curl session, replayed against a fresh server, gives the README's output.

Why: the README promises that on a fresh clone `make run` and its curl session
reproduce its outputs.  This test reads the session out of README.md, sends
each request with http.client (curl may not be installed), and compares every
answer byte for byte.
"""

import http.client
import os
import shlex
import unittest

from support import PROJECT, ServerProcess


def readme_session():
    """``[(curl arguments, expected output)]`` from the README's curl block."""
    with open(os.path.join(PROJECT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    start = text.index("## A session with curl")
    block = text[text.index("```\n", start) + 4:text.index("```", text.index("```\n", start) + 4)]
    steps = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append([line[2:], []])
        elif steps:
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


def parse_curl(command):
    """``(method, path, body bytes or None, byte limit or None)`` of a README curl line."""
    command, _, pipe = command.partition(" | ")
    words = shlex.split(command)
    assert words[0] == "curl", command
    method, body, url = "GET", None, None
    index = 1
    while index < len(words):
        word = words[index]
        if word == "-X":
            method = words[index + 1]
            index += 2
        elif word in ("-d", "-H"):
            if word == "-d":
                body = words[index + 1].encode()
                if method == "GET":
                    method = "POST"
            index += 2
        elif word.startswith("-"):
            index += 1
        else:
            url = word
            index += 1
    limit = int(shlex.split(pipe)[-1]) if pipe else None
    path = "/" + url.split("/", 3)[3]
    return method, path, body, limit


class ReadmeSessionTest(unittest.TestCase):
    def test_session_reproduces_readme_output(self):
        steps = readme_session()
        self.assertGreaterEqual(len(steps), 20)
        with ServerProcess() as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            for command, expected in steps:
                method, path, body, limit = parse_curl(command)
                with self.subTest(command=command):
                    connection.request(method, path, body=body)
                    raw = connection.getresponse().read()
                    if limit is not None:
                        raw = raw[:limit]
                    self.assertEqual(raw.decode("utf-8"), expected)
            connection.close()
            self.assertEqual(server.wait(), 0)


if __name__ == "__main__":
    unittest.main()
