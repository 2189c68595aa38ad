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
import shlex
import time
import unittest

from inprocess import InProcessServer
from support import PROJECT

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


def run_command(connection: http.client.HTTPConnection, command: str) -> str:
    """What ``command`` prints, for the curl forms the section uses.

    ``curl -s [-X M] [-d BODY] [-H 'K: V'] URL``, optionally ``| head -c N`` or
    ``| head -n N``;
    ``-o /dev/null -w '%{http_code}\\n'`` prints the status; ``-I`` (HEAD)
    with ``| grep -i -e NAME ...`` prints the matching header lines.  A
    get_results still ``running`` is asked again (a client would poll).
    """
    command, _, pipe = command.partition(" | ")
    words = shlex.split(command)
    assert words[0] == "curl", command
    method, body, url, headers, status_only, head = "GET", None, None, {}, False, False
    index = 1
    while index < len(words):
        word = words[index]
        if word == "-X":
            method, index = words[index + 1], index + 2
        elif word == "-d":
            body, index = words[index + 1].encode(), index + 2
            method = "POST" if method == "GET" else method
        elif word == "-H":
            name, _, value = words[index + 1].partition(":")
            headers[name.strip()] = value.strip()
            index += 2
        elif word == "-o":
            index += 2
        elif word == "-w":
            status_only, index = True, index + 2
        elif word.startswith("-"):
            head = head or "I" in word
            index += 1
        else:
            url, index = word, index + 1
    if head:
        method = "HEAD"
    assert url is not None, f"no URL in {command!r}"
    path = "/" + url.split("/", 3)[3]
    deadline = time.monotonic() + 10
    while True:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        if (not path.startswith("/api/get_results/") or time.monotonic() > deadline
                or not raw.startswith(b"{") or json.loads(raw) != {"status": "running"}):
            break
        time.sleep(0.1)
    if status_only:
        return str(response.status)
    if head:
        names = [word.lower() for word in shlex.split(pipe)[3::2]]  # grep -i -e A -e B
        return "\n".join(f"{name}: {value}" for name, value in response.getheaders()
                         if name.lower() in names)
    # CSV lines end in CRLF: shown as lines, without the last line end (the next
    # prompt starts a line anyway, as after a JSON answer).
    text = raw.decode("utf-8").replace("\r\n", "\n")
    if pipe:
        words = shlex.split(pipe)  # head -c N, or head -n N
        if words[1] == "-n":
            text = "".join(text.splitlines(keepends=True)[:int(words[2])])
        else:
            text = text[:int(words[2])]
    return text[:-1] if text.endswith("\n") else text


class ReadmeDataSessionTest(unittest.TestCase):
    def test_section_reproduces_its_output(self):
        steps = section_session()
        self.assertGreaterEqual(len(steps), 10)
        with InProcessServer() as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=40)
            for command, expected in steps:
                with self.subTest(command=command):
                    self.assertEqual(run_command(connection, command), expected)
            connection.close()


if __name__ == "__main__":
    unittest.main()
