"""``python3 -m statsd.tools.dist``: statsd as one file, ``dist/statsd.pyz`` (``make dist``).

Why: statsd is for machines without pip or git, and ``setup.cfg`` alone
cannot be installed there.  A ``zipapp`` archive is one file that any
``python3`` (3.9 or newer) runs as it is: ``python3 statsd.pyz --port 8000``.
It holds the runtime package with its dashboard files and the bundled sample
CSV, in the same layout as the checkout (``statsd/`` and
``data/brfss_sample.csv``), so that ``statsd.assets`` finds them the same way
in both.  Development tools, tests, caches and the README's pictures stay
out.  The archive's ``__main__.py`` calls ``statsd.__main__.main``, so every
flag of ``python3 -m statsd`` works, with ``results/`` and ``webserver.log``
in the working directory.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import zipapp
import zipfile
from typing import List, Optional

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUTPUT = os.path.join(PROJECT, "dist", "statsd.pyz")
SAMPLE = "data/brfss_sample.csv"
#: Folders of the package that are not needed to run it.
LEFT_OUT = ("statsd/tools", "statsd/static/docs")


def wanted(relative: pathlib.Path) -> bool:
    """Whether ``relative`` (a path in the checkout) goes into the archive."""
    name = relative.as_posix()
    if name in ("data", SAMPLE):
        return True
    if name != "statsd" and not name.startswith("statsd/"):
        return False
    if "__pycache__" in relative.parts or name.endswith((".pyc", ".pyo")):
        return False
    return not any(name == folder or name.startswith(folder + "/") for folder in LEFT_OUT)


def build(output: str = DEFAULT_OUTPUT, source: str = PROJECT) -> List[str]:
    """Write the archive to ``output`` (its folder made if need be); return its names."""
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(output)}.tmp")
    zipapp.create_archive(source, temporary, interpreter="/usr/bin/env python3",
                          main="statsd.__main__:main", filter=wanted, compressed=True)
    os.replace(temporary, output)  # a reader never finds half an archive
    with zipfile.ZipFile(output) as archive:
        return archive.namelist()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m statsd.tools.dist",
                                     description="Build statsd as one runnable file (zipapp).")
    parser.add_argument("--output", "-o", default=DEFAULT_OUTPUT,
                        help="where to write the archive (default: dist/statsd.pyz of the "
                             "checkout)")
    args = parser.parse_args(argv)
    try:
        names = build(args.output)
    except OSError as error:
        print(f"dist: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return 1
    if SAMPLE not in names or "statsd/static/index.html" not in names:
        print(f"dist: {args.output} lacks the sample or the dashboard", file=sys.stderr)
        return 1
    size = os.path.getsize(args.output)
    print(f"dist: wrote {args.output} ({size / 1024:,.0f} KiB, {len(names)} files); "
          f"run it with: python3 {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
