"""Errors that analysis raises for problems a user can fix (bad files, bad folders).

Everything here derives from AnalysisError, so a CLI can catch that one class,
print the one-line message and exit non-zero; anything else is a bug.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, Path]


class AnalysisError(Exception):
    """Root of every user-fixable problem analysis reports."""


class DumpFormatError(AnalysisError):
    """A binary dump file (``--bin-io-dump``) does not have MegEngine's layout.

    ``offset`` is the byte offset in the file where the problem sits, or None
    when it concerns the whole file (for example: it cannot be read).
    """

    def __init__(self, path: Optional[PathLike], offset: Optional[int], reason: str) -> None:
        self.path = None if path is None else Path(path)
        self.offset = offset
        self.reason = reason
        super().__init__(self._line())

    def _line(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(str(self.path))
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        parts.append(self.reason)
        return ": ".join(parts)

    def __str__(self) -> str:
        return self._line()

    def __reduce__(self):  # keep pickling (multiprocessing) working with our __init__
        return (type(self), (self.path, self.offset, self.reason))


class UnknownDTypeError(DumpFormatError):
    """The header's dtype code is not one of MegEngine's DTypeEnum values."""

    def __init__(self, code: int, path: Optional[PathLike] = None, offset: Optional[int] = None) -> None:
        self.code = code
        super().__init__(path, offset, f"unknown dtype code {code}")

    def __reduce__(self):
        return (type(self), (self.code, self.path, self.offset))


class DumpFolderError(AnalysisError):
    """A dump folder is missing, is a file, holds no dump files, or cannot be listed."""

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class TitleError(AnalysisError):
    """A dump's title (the var description string) does not follow MegEngine's grammar.

    Values can still be compared without it; only names and graph edges are lost.
    """

    def __init__(self, reason: str, position: Optional[int] = None, path: Optional[PathLike] = None) -> None:
        self.reason = reason
        self.position = position
        self.path = None if path is None else Path(path)
        super().__init__(self._line())

    def _line(self) -> str:
        where = [] if self.path is None else [str(self.path)]
        if self.position is not None:
            where.append(f"title character {self.position}")
        else:
            where.append("title")
        return ": ".join(where + [self.reason])

    def __str__(self) -> str:
        return self._line()

    def with_path(self, path: PathLike) -> TitleError:
        """The same error, naming the file the title came from."""
        return TitleError(self.reason, self.position, path)

    def __reduce__(self):
        return (type(self), (self.reason, self.position, self.path))


class TextDumpError(AnalysisError):
    """A text dump (``--io-dump``) line does not follow MegEngine's grammar."""

    def __init__(self, path: Optional[PathLike], line: Optional[int], reason: str) -> None:
        self.path = None if path is None else Path(path)
        self.line = line
        self.reason = reason
        where = str(self.path) if self.path is not None else "<text dump>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.reason))


class GraphError(AnalysisError):
    """The var graph built from dumps is inconsistent (for example it has a cycle)."""
