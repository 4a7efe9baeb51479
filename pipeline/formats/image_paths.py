"""Finding a labelling tool's image under a folder of ours, from whatever path the tool wrote.

Label Studio writes image paths as its server sees them: `/data/local-files/?d=samples/a.png`
(URL-encoded after `?d=`), `/data/upload/3/8f2a91c0-a.png` (an upload, its name prefixed by 8 hex
digits), or in its COCO export `../ls/data/samples/a.png` (relative to the server's export folder).
None of these can be opened as they are. `ImageFinder` looks under a folder we are given for the
path's tails, longest first (`ls/data/samples/a.png`, ..., `samples/a.png`, `a.png`), then for the
base name anywhere below the folder. It only ever looks inside that folder: a path with `..` or an
absolute path is never opened, only its tails are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from debris.io.reader import IMAGE_SUFFIXES

LOCAL_FILES = "/data/local-files/?d="  # Label Studio's local storage (and what write_labelstudio writes)
UPLOAD = re.compile(r"^/data/upload/\d+/")  # files uploaded to a Label Studio project
UPLOAD_NAME = re.compile(r"^[0-9a-f]{8}-(.+)$")  # Label Studio prefixes an uploaded file's name with 8 hex digits


def labelstudio_path(value: str) -> str:
    """The file path inside a Label Studio image URL, URL-decoded: "/data/local-files/?d=a%20b.png" -> "a b.png"."""
    if LOCAL_FILES in value:
        return unquote(value.split(LOCAL_FILES, 1)[1])
    if UPLOAD.match(value):
        return unquote(UPLOAD.sub("", value))
    if "://" in value:  # cloud storage or http: the key or path part
        parsed = urlparse(value)
        return unquote(parsed.netloc + parsed.path if parsed.scheme in ("s3", "gs", "azure-blob") else parsed.path)
    return value


@dataclass
class ImageFinder:
    """Finds images under `root` by the tails of a foreign path; returns paths relative to root."""

    root: Path
    _by_name: dict[str, list[str]] | None = field(default=None, repr=False)  # base name -> paths, built on first need

    def find(self, path: str) -> tuple[str, str]:
        """(posix path relative to root, "") for the image `path` names, or ("", why it was not found)."""
        parts = [p for p in PurePosixPath(path.replace("\\", "/")).parts if p not in ("/", ".", "..", "")]
        if not parts:
            return "", f"{path!r} names no file"
        names = [parts[-1]]
        upload = UPLOAD_NAME.match(parts[-1])
        if upload:
            names.append(upload.group(1))
        for name in names:
            # longest tail first: samples/a.png beats a.png found in another sub-folder
            for start in range(len(parts)):
                tail = PurePosixPath(*parts[start:-1], name).as_posix()
                if (self.root / tail).is_file():
                    return tail, ""
            found = self._index().get(name, [])
            if len(found) == 1:
                return found[0], ""
            if len(found) > 1:
                return "", f"{len(found)} images named {name!r} under {self.root} ({', '.join(found[:3])}...); cannot tell which"
        return "", f"no image named {names[-1]!r} under {self.root}"

    def _index(self) -> dict[str, list[str]]:
        if self._by_name is None:
            self._by_name = {}
            for p in sorted(self.root.rglob("*")):
                if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                    self._by_name.setdefault(p.name, []).append(p.relative_to(self.root).as_posix())
        return self._by_name
