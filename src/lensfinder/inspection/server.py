"""The local grading web page: one inspector grades an inspection set, each grade appended and fsync'ed.

Serves the set's stamps on 127.0.0.1 only (page in ``web/``); keys, undo,
resume, durability and security are described in docs/inspection.md.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import threading
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from lensfinder.inspection.grades import GRADES_COLUMNS, UNDO, read_grades
from lensfinder.io import InputError, read_table, require_columns

__all__ = ["GradingSession", "make_server", "serve_grading", "SCHEME_KEYS"]

log = logging.getLogger(__name__)

#: scheme -> (key, grade, label), best grade first.
SCHEME_KEYS = {
    # Li et al. 2020, section 3.2.
    "li2020": [("a", "A", "surely a lens"), ("b", "B", "maybe a lens"), ("c", "C", "maybe not a lens"),
               ("d", "D", "not a lens")],
    # He et al. 2020, section 4.1.
    "he2020": [("2", "2", "definite lens"), ("1", "1", "possible lens"), ("0", "0", "non-lens")],
}
LOCAL_CLIENTS = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8")}


class GradingSession:
    """One inspector's grading of one set: manifest, grades file, undo stack.

    Parameters
    ----------
    set_dir : path-like
        Directory with ``manifest.parquet`` (or ``manifest.csv``) and the PNGs.
    inspector : str
        Inspector name written in every row.
    scheme : {"li2020", "he2020"}
    grades_path : path-like
        Grades CSV, created if missing, appended to otherwise.
    """

    def __init__(self, set_dir, inspector: str, scheme: str, grades_path):
        if scheme not in SCHEME_KEYS:
            raise InputError(f"--scheme: {scheme!r}: expected one of {', '.join(SCHEME_KEYS)}")
        inspector = str(inspector).strip()
        if not inspector or any(ch in inspector for ch in "\r\n"):
            raise InputError(f"--inspector: {inspector!r}: expected a non-empty name on one line")
        self.set_dir = Path(set_dir).resolve()
        self.inspector = inspector
        self.scheme = scheme
        self.grades_path = Path(grades_path)
        self.valid = {g for _, g, _ in SCHEME_KEYS[scheme]}
        self._lock = threading.Lock()
        self.items = self._read_manifest()
        self._ids = {item["object_id"] for item in self.items}
        self._history: list[tuple[str, str]] = []  # effective (object_id, grade), oldest first
        self._load_grades()

    def _read_manifest(self) -> list[dict]:
        import pandas as pd

        pq, csv_path = self.set_dir / "manifest.parquet", self.set_dir / "manifest.csv"
        if pq.exists():
            manifest = read_table(pq)
            source = str(pq)
        elif csv_path.exists():
            manifest = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
            source = str(csv_path)
        else:
            raise InputError(f"{self.set_dir}: no manifest.parquet or manifest.csv (run lensfinder candidates)")
        require_columns(manifest, ["object_id", "png"], source, "inspection manifest")
        if "order" in manifest.columns:
            manifest = manifest.sort_values("order", kind="mergesort")
        names = manifest["display_name"] if "display_name" in manifest.columns else manifest["object_id"]
        items = []
        for k, (oid, name, png) in enumerate(zip(manifest["object_id"].astype(str), names.astype(str),
                                                 manifest["png"].astype(str))):
            path = (self.set_dir / png).resolve()
            if not path.is_relative_to(self.set_dir):
                raise InputError(f"{source}: png: {png!r} for {oid!r} lies outside the set directory")
            items.append({"object_id": oid, "name": name, "png": f"/png/{k}", "_path": path})
        return items

    def _load_grades(self) -> None:
        if not self.grades_path.exists() or self.grades_path.stat().st_size == 0:
            return
        grades = read_grades(self.grades_path, self.scheme, duplicate_policy="latest")
        mine = grades[grades["inspector"] == self.inspector]
        self._history = list(zip(mine["object_id"], mine["grade"]))
        log.info("resuming: %s has graded %d objects in %s", self.inspector, len(self._history), self.grades_path)

    def _append(self, object_id: str, grade: str) -> None:
        new = not self.grades_path.exists() or self.grades_path.stat().st_size == 0
        self.grades_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.grades_path, "a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(GRADES_COLUMNS)
            writer.writerow([object_id, self.inspector, grade,
                             datetime.now(timezone.utc).isoformat(timespec="seconds")])
            fh.flush()
            os.fsync(fh.fileno())
        if new:  # make the new directory entry durable too
            fd = os.open(self.grades_path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def state(self) -> dict:
        """JSON-ready page state: items, keys and this inspector's grades."""
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> dict:
        grades = dict(self._history)
        return {
            "inspector": self.inspector,
            "scheme": self.scheme,
            "keys": [{"key": k, "grade": g, "label": label} for k, g, label in SCHEME_KEYS[self.scheme]],
            "items": [{k: v for k, v in item.items() if not k.startswith("_")} for item in self.items],
            "grades": {oid: g for oid, g in grades.items() if oid in self._ids},
            "n_graded": sum(1 for oid in grades if oid in self._ids),
        }

    def grade(self, object_id: str, grade: str) -> dict:
        """Record one grade (appended and fsync'ed at once); returns the new state.

        Raises :class:`InputError` for an unknown object, a grade outside the
        scheme, or an object this inspector already graded (undo first).
        """
        object_id, grade = str(object_id), str(grade).strip()
        if self.scheme == "li2020":
            grade = grade.upper()
        with self._lock:
            if object_id not in self._ids:
                raise InputError(f"object_id {object_id!r} is not in this inspection set")
            if grade not in self.valid:
                raise InputError(f"grade {grade!r} is not in the {self.scheme} scheme")
            if any(oid == object_id for oid, _ in self._history):
                raise InputError(f"{object_id!r} is already graded by {self.inspector}; undo first")
            self._append(object_id, grade)
            self._history.append((object_id, grade))
            return self._state_locked()

    def undo(self) -> dict:
        """Retract this inspector's latest grade (an ``UNDO`` record); returns the new state."""
        with self._lock:
            undone = None
            if self._history:
                object_id, grade = self._history[-1]
                self._append(object_id, UNDO)
                self._history.pop()
                undone = {"object_id": object_id, "grade": grade}
            state = self._state_locked()
            state["undone"] = undone
            return state

    def png_path(self, index: int) -> Path | None:
        return self.items[index]["_path"] if 0 <= index < len(self.items) else None


class _Handler(BaseHTTPRequestHandler):
    server_version = "lensfinder-grade"
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds; a stalled client cannot hold a thread forever

    @property
    def session(self) -> GradingSession:
        return self.server.session  # type: ignore[attr-defined]

    def log_message(self, fmt, *args):  # http.server writes to stderr by default
        log.debug("%s " + fmt, self.client_address[0], *args)

    def _allowed(self) -> bool:
        if self.client_address[0] not in LOCAL_CLIENTS:
            return False
        host = urlsplit("//" + (self.headers.get("Host") or "")).hostname
        return host in LOCAL_HOSTS

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                         "connect-src 'self'; frame-ancestors 'none'")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        # <, >, & escaped so the JSON is inert even if a browser sniffed it as HTML
        text = json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        self._send(status, text.encode(), "application/json; charset=utf-8")

    def _forbidden(self) -> None:
        log.warning("refused %s %s from %s (Host %r)", self.command, self.path, self.client_address[0],
                    self.headers.get("Host"))
        self._json(HTTPStatus.FORBIDDEN, {"error": "only local connections are served"})

    def do_GET(self):  # noqa: N802 (http.server API)
        if not self._allowed():
            return self._forbidden()
        path = urlsplit(self.path).path
        if path in STATIC:
            name, ctype = STATIC[path]
            body = resources.files("lensfinder.inspection").joinpath("web", name).read_bytes()
            return self._send(HTTPStatus.OK, body, ctype)
        if path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if path == "/api/state":
            return self._json(HTTPStatus.OK, self.session.state())
        if path.startswith("/png/"):
            try:
                png = self.session.png_path(int(path[len("/png/"):]))
            except ValueError:
                png = None
            if png is None or not png.exists():
                return self._json(HTTPStatus.NOT_FOUND, {"error": "no such stamp"})
            return self._send(HTTPStatus.OK, png.read_bytes(), "image/png")
        return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    do_HEAD = do_GET

    def do_POST(self):  # noqa: N802
        if not self._allowed():
            return self._forbidden()
        origin = self.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).hostname not in LOCAL_HOSTS:
            return self._forbidden()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": f"bad request body: {exc}"})
        path = urlsplit(self.path).path
        try:
            if path == "/api/grade":
                return self._json(HTTPStatus.OK, self.session.grade(payload.get("object_id", ""),
                                                                    payload.get("grade", "")))
            if path == "/api/undo":
                return self._json(HTTPStatus.OK, self.session.undo())
        except InputError as exc:
            return self._json(HTTPStatus.CONFLICT, {"error": str(exc)})
        except OSError as exc:  # the grade was not saved: tell the page loudly
            log.error("cannot write %s: %s", self.session.grades_path, exc)
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"grade NOT saved: {exc}"})
        return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})


def make_server(session: GradingSession, port: int = 0) -> ThreadingHTTPServer:
    """A threaded HTTP server for ``session`` bound to 127.0.0.1 (``port=0``: any free port)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.session = session  # type: ignore[attr-defined]
    return server


def serve_grading(set_dir, inspector: str, scheme: str = "li2020", grades_path=None, port: int = 0) -> int:
    """Serve the grading page of ``set_dir`` for one inspector until Ctrl+C; returns the number graded.

    Parameters
    ----------
    set_dir : path-like
        Inspection set directory (``manifest.parquet`` + ``png/``).
    inspector : str
        Name written in every grade row.
    scheme : {"li2020", "he2020"}
    grades_path : path-like, optional
        Grades CSV to append to; default ``set_dir/human_grades.csv``.
    port : int
        Port on 127.0.0.1; 0 takes any free port (logged).
    """
    grades = Path(grades_path) if grades_path else Path(set_dir) / "human_grades.csv"
    session = GradingSession(set_dir, inspector, scheme, grades)
    server = make_server(session, port)
    host, port = server.server_address[:2]
    log.info("grading %d objects as %s (%s); grades -> %s", len(session.items), session.inspector, session.scheme,
             grades)
    log.info("open http://%s:%d/ in a browser on this machine; Ctrl+C to stop", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped; %d objects graded by %s", session.state()["n_graded"], session.inspector)
    finally:
        server.server_close()
    return session.state()["n_graded"]
