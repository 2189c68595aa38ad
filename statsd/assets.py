"""The files statsd ships with: the dashboard's in ``statsd/static/``, and the bundled sample CSV.

Why: the dashboard must work offline, with nothing fetched from the internet,
and statsd must run as one file (``dist/statsd.pyz``, a zip archive) as well
as from a checkout.  Inside an archive there is no directory to ``open()``
or list, so every file of the package is read through the loader that
imported statsd (``zipimporter.get_data``, or the plain file loader's, which
reads from disk) and listed from the archive's table of contents.  The
archive holds the same layout as the checkout (``statsd/``, and
``data/brfss_sample.csv`` beside it), so one relative path finds the sample
in both, never from the working directory.

Only files that are in the static folder when statsd starts, with a known
type, can be served: a name from a URL is looked up in that list, never
joined to a path.
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import BinaryIO, Dict, List, NamedTuple, Optional, Union

PACKAGE_DIRECTORY = os.path.dirname(os.path.abspath(__file__))
#: The checkout, or the archive (``.../statsd.pyz``) when statsd runs from one.
ROOT = os.path.dirname(PACKAGE_DIRECTORY)
STATIC_DIRECTORY = os.path.join(PACKAGE_DIRECTORY, "static")
SAMPLE = os.path.join(ROOT, "data", "brfss_sample.csv")

_LOADER = __spec__.loader if __spec__ is not None else None

#: File extension -> Content-Type of the files that may be served.
CONTENT_TYPES: Dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


class Asset(NamedTuple):
    body: bytes
    content_type: str


def archive() -> Optional[str]:
    """The absolute path of the zip archive statsd was imported from, or None (a checkout)."""
    path = getattr(_LOADER, "archive", None)  # zipimporter's documented attribute
    return os.path.abspath(path) if isinstance(path, str) else None


def _in_archive(path: str, zipped: str) -> str:
    """``path`` (absolute, inside the archive ``zipped``) as a name of the archive's table."""
    return os.path.relpath(path, zipped).replace(os.sep, "/")


def read(path: str) -> bytes:
    """The bytes of ``path``, a file of the package or beside it, on disk or in the archive.

    Raises OSError when there is no such file.
    """
    zipped = archive()
    if zipped is None:
        with open(path, "rb") as handle:
            return handle.read()
    # zipimporter.get_data takes a name of the archive's table as it is.
    return _LOADER.get_data(_in_archive(path, zipped))  # type: ignore[union-attr]


def files_in(directory: str) -> List[str]:
    """The names of the files directly in ``directory`` (of the package), sub-folders left out."""
    zipped = archive()
    if zipped is None:
        try:
            return [name for name in os.listdir(directory)
                    if os.path.isfile(os.path.join(directory, name))]
        except OSError:
            return []
    prefix = _in_archive(directory, zipped).rstrip("/") + "/"
    try:
        with zipfile.ZipFile(zipped) as handle:
            names = handle.namelist()
    except (OSError, zipfile.BadZipFile):
        return []
    return [name[len(prefix):] for name in names
            if name.startswith(prefix) and "/" not in name[len(prefix):] and name != prefix]


def sample() -> Union[str, BinaryIO]:
    """The bundled sample CSV, for ``load_csv``: its path on disk, or its bytes from the archive.

    A path under the working directory is given relative to it, as people
    type it (``data/brfss_sample.csv`` in the start-up line of a checkout).
    """
    if archive() is None:
        try:
            relative = os.path.relpath(SAMPLE)
        except (OSError, ValueError):  # no working directory, or another drive
            return SAMPLE
        return SAMPLE if relative.startswith(os.pardir) else relative
    try:
        stream = io.BytesIO(read(SAMPLE))
    except OSError:
        return SAMPLE  # load_csv names the missing file
    stream.name = SAMPLE  # type: ignore[attr-defined]  # the name load_csv shows
    return stream


def _servable() -> Dict[str, str]:
    """File name -> Content-Type of every file in the static folder that may be served."""
    found = {}
    for name in files_in(STATIC_DIRECTORY):
        content_type = CONTENT_TYPES.get(os.path.splitext(name)[1].lower())
        if content_type:
            found[name] = content_type
    return found


SERVABLE = _servable()


def asset(name: str) -> Optional[Asset]:
    """The file ``name`` of the static folder, or None if there is no such file to serve."""
    content_type = SERVABLE.get(name)
    if content_type is None:
        return None
    try:
        return Asset(read(os.path.join(STATIC_DIRECTORY, name)), content_type)
    except OSError:
        return None
