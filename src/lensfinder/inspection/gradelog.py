"""The grading page's append-only logs (grades and notes), locked against a second server.

Two ``fcntl.flock`` locks live beside the grades CSV:

``<grades>.lock``
    Taken for every append (exclusive) and every read-back (shared), so the
    header is written once, by whichever server writes first, and no reader
    sees half a line.
``<grades>.<inspector>-<hash>.lock``
    Taken (exclusive, non-blocking) when a server starts for an inspector and
    held until it stops: a second server for the same inspector and file is
    refused with an error naming the file and the other process. The kernel
    drops the lock when a process dies, so a crash leaves nothing stale.

flock is advisory and local: servers on different machines sharing a network
file system are not protected (see docs/inspection.md).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from lensfinder.inspection.candidates import safe_name
from lensfinder.io import InputError

__all__ = ["GradeLog", "utc_now"]


def utc_now() -> str:
    """The current time in ISO 8601 UTC, to the second (the logs' ``time`` column)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class GradeLog:
    """One inspector's write access to a grades CSV and its notes CSV, for a server's lifetime.

    Parameters
    ----------
    grades_path : path-like
        The grades CSV (created with its header on the first append).
    inspector : str
        The inspector this server writes for; a second live ``GradeLog`` for
        the same inspector and file (in any process on this machine) raises
        :class:`InputError`.
    """

    def __init__(self, grades_path, inspector: str):
        self.path = Path(grades_path).resolve()
        self.inspector = inspector
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = self.path.with_name(f"{self.path.name}.lock")
        digest = hashlib.sha1(inspector.encode()).hexdigest()[:8]
        self.inspector_lock = self.path.with_name(f"{self.path.name}.{safe_name(inspector)[:40]}-{digest}.lock")
        self._fd: int | None = os.open(self.inspector_lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(self._fd, 512, 0).decode("utf-8", "replace").strip() or "a process that just started"
            os.close(self._fd)
            self._fd = None
            raise InputError(f"{self.path}: inspector {inspector!r} is already being graded by another grading "
                             f"server ({other}; lock {self.inspector_lock.name}); stop that server, or grade "
                             f"as another --inspector") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"pid {os.getpid()} on {socket.gethostname()}, since {utc_now()}\n".encode(), 0)

    def close(self) -> None:
        """Release the inspector lock (also released when the process ends)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def locked(self, shared: bool = False) -> Iterator[None]:
        """Hold the write lock (exclusive) or a read lock (``shared=True``) on both logs."""
        fd = os.open(self._write_lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def append(self, path, columns: Sequence[str], row: Sequence) -> None:
        """Append ``row`` to the CSV ``path`` (with the header if the file is new or empty), fsync'ed.

        Header and row go out in one write under the exclusive lock, so two
        servers starting one file at the same moment write one header.
        """
        if self._fd is None:
            raise InputError(f"{self.path}: the grading session for {self.inspector!r} is closed")
        path = Path(path)
        text = io.StringIO()
        writer = csv.writer(text)
        with self.locked():
            new = not path.exists() or path.stat().st_size == 0
            if new:
                writer.writerow(columns)
            else:
                row = _in_file_order(path, columns, row, text)
            writer.writerow(row)
            _append_whole(path, text.getvalue().encode("utf-8"))
            if new:  # make the new directory entry durable too
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)


def _append_whole(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` and fsync it, or leave the file as it was: a write cut short (disk full,
    quota, file-size limit) is truncated away, so no half row is left for the next append to complete."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, size)
            os.fsync(fd)
            raise
    finally:
        os.close(fd)


def _in_file_order(path: Path, columns: Sequence[str], row: Sequence, text) -> list:
    """``row`` laid out under the existing file's header (a grades CSV made by hand may hold its columns
    in another order, or without ``time``); a last line without its newline gets one, so the new row
    does not join it."""
    with open(path, "rb") as fh:
        header = next(csv.reader([fh.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")]), [])
        fh.seek(-1, os.SEEK_END)
        ends_in_newline = fh.read(1) in (b"\n", b"\r")
    values = dict(zip(columns, row))
    missing = [c for c in columns if c != "time" and c not in header]
    if missing:
        raise InputError(f"{path}: header {','.join(header)} lacks {','.join(missing)}; expected the columns "
                         f"{','.join(columns)} (was the file edited? restore its header, or grade into a new file)")
    if not ends_in_newline:
        text.write("\r\n")
    return [values.get(name, "") for name in header]
