"""The local grading web page: HTTP on 127.0.0.1 for one :class:`~lensfinder.inspection.session.GradingSession`.

Serves the page (``web/``), the set's stamps as PNG, float32 pixels and FITS,
and the grading API. Keys, modes, durability and security are described in
docs/inspection.md.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import numpy as np

from lensfinder.inspection.session import DEFAULT_FLAGS, SCHEME_KEYS, GradingSession
from lensfinder.io import InputError

__all__ = ["GradingSession", "SCHEME_KEYS", "MAX_BODY_BYTES", "TOKEN_HEADER", "cookie_name", "make_server",
           "page_url", "serve_grading"]

log = logging.getLogger(__name__)

LOCAL_CLIENTS = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
STATIC = {"/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8")}
#: Largest request body accepted (bytes); the API's bodies are a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024
#: Header carrying the per-server token on every state-changing request.
TOKEN_HEADER = "X-Lensfinder-Token"
_TOKEN_SLOT = "__LENSFINDER_TOKEN__"
#: Query parameter of the URL `lensfinder grade` prints; the first request with it sets the cookie.
TOKEN_PARAM = "token"
_ITEM_PATH = re.compile(r"/(api/item|api/field|fits|png|api/pixels)/(\d+)(?:/([\w.-]+))?")


class _Handler(BaseHTTPRequestHandler):
    server_version = "lensfinder-grade"
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds; a stalled client cannot hold a thread forever
    # Headers and body leave in two writes: with Nagle's algorithm and the browser's delayed ACK each
    # answer waited ~40 ms (measured: next stamp 54 ms -> see docs/inspection.md).
    disable_nagle_algorithm = True

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

    def _holds_secret(self) -> bool:
        """The request carries the server's secret: its cookie, the ``?token=`` of the printed URL (which then
        sets the cookie) or the token header. Any other local user of this machine gets nothing."""
        secret = self.server.token  # type: ignore[attr-defined]
        query = parse_qs(urlsplit(self.path).query).get(TOKEN_PARAM, [])
        if any(_same_secret(value, secret) for value in query):
            self._set_cookie = True
            return True
        if _same_secret(self.headers.get(TOKEN_HEADER), secret):
            return True
        name = cookie_name(self.server)
        for header in self.headers.get_all("Cookie") or []:
            for part in header.split(";"):
                key, _, value = part.strip().partition("=")
                if key == name and _same_secret(value, secret):
                    return True
        return False

    def _same_origin(self) -> bool:
        """No Origin (not a browser), or exactly this server's: ``null`` and other sites are refused."""
        origin = self.headers.get("Origin")
        if origin is None:
            return True
        parts = urlsplit(origin)
        try:
            port = parts.port
        except ValueError:
            return False
        return parts.scheme == "http" and parts.hostname in LOCAL_HOSTS and port == self.server.server_address[1]

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                         "connect-src 'self'; frame-ancestors 'none'; form-action 'none'")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if getattr(self, "_set_cookie", False):  # HttpOnly: the page's scripts never read it
            token = self.server.token  # type: ignore[attr-defined]
            self.send_header("Set-Cookie", f"{cookie_name(self.server)}={token}; Path=/; HttpOnly; SameSite=Strict")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        # <, >, & escaped so the JSON is inert even if a browser sniffed it as HTML
        text = json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        self._send(status, text.encode(), "application/json; charset=utf-8")

    def _error(self, status: int, message: str, *, close: bool = False) -> None:
        if close:  # the request body was not read: this connection cannot carry another request
            self.close_connection = True
        self._json(status, {"error": message})

    def _forbidden(self, why: str, *, close: bool = False) -> None:
        log.warning("refused %s %s from %s (%s)", self.command, urlsplit(self.path).path[:80],
                    self.client_address[0], why)
        self._error(HTTPStatus.FORBIDDEN, why, close=close)

    def _guarded(self, handler) -> None:
        try:
            handler()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - answer 500 rather than drop the connection with a traceback
            log.exception("grading server: %s %s failed", self.command, urlsplit(self.path).path[:80])
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (see the server log)", close=True)

    # ---------------------------------------------------------------- GET

    def do_GET(self):  # noqa: N802 (http.server API)
        self._guarded(self._get)

    do_HEAD = do_GET

    def _get(self) -> None:
        self._set_cookie = False
        if not self._allowed():
            return self._forbidden("only local connections are served")
        if not self._holds_secret():
            return self._forbidden("missing or wrong token: open the URL that lensfinder grade printed "
                                   f"(http://127.0.0.1:PORT/?{TOKEN_PARAM}=...)")
        path = urlsplit(self.path).path
        if path == "/":
            page = resources.files("lensfinder.inspection").joinpath("web", "index.html").read_text("utf-8")
            return self._send(HTTPStatus.OK, page.replace(_TOKEN_SLOT, self.server.token).encode(),  # type: ignore
                              "text/html; charset=utf-8")
        if path in STATIC:
            name, ctype = STATIC[path]
            return self._send(HTTPStatus.OK, resources.files("lensfinder.inspection").joinpath("web", name)
                              .read_bytes(), ctype)
        if path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if path == "/api/state":
            return self._json(HTTPStatus.OK, self.session.state())
        match = _ITEM_PATH.fullmatch(path)
        index = int(match.group(2)) if match else -1
        if not 0 <= index < len(self.session.items):
            return self._error(HTTPStatus.NOT_FOUND, f"no such page: {path[:80]}")
        kind, label = match.group(1), match.group(3)
        try:
            if kind == "api/item":
                return self._json(HTTPStatus.OK, self.session.details(index))
            if kind == "png":
                png = self.session.png_path(index, label or "png")
                if png is None or not png.exists():
                    return self._error(HTTPStatus.NOT_FOUND, "no such stamp")
                return self._send(HTTPStatus.OK, png.read_bytes(), "image/png")
            if kind == "fits":
                if not self.session.cubes.bands:
                    return self._error(HTTPStatus.NOT_FOUND, "this set has no stamp cube (made before stamps_r.fits)")
                body, name = self.session.stamp_fits(index)
                return self._send(HTTPStatus.OK, body, "application/fits",
                                  {"Content-Disposition": f'attachment; filename="{name}"'})
            if kind == "api/pixels" and label not in self.session.cubes.bands:
                return self._error(HTTPStatus.NOT_FOUND, f"no band {label!r} in this set")
            image, meta = self.session.pixels(index, label) if kind == "api/pixels" else self.session.field(index)
        except InputError as exc:
            return self._error(HTTPStatus.NOT_FOUND, str(exc))
        return self._send(HTTPStatus.OK, np.ascontiguousarray(image, dtype="<f4").tobytes(),
                          "application/octet-stream", {"X-Pixels-Meta": json.dumps(meta)})

    # ---------------------------------------------------------------- POST

    def do_POST(self):  # noqa: N802
        self._guarded(self._post)

    def _post(self) -> None:
        self._set_cookie = False
        if not self._allowed():
            return self._forbidden("only local connections are served", close=True)
        if not self._same_origin():
            return self._forbidden("cross-origin request refused", close=True)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "expected Content-Type: application/json",
                               close=True)
        if not _same_secret(self.headers.get(TOKEN_HEADER), self.server.token):  # type: ignore
            return self._forbidden(f"missing or wrong {TOKEN_HEADER} (reload the page)", close=True)
        length = self.headers.get("Content-Length")
        if length is None:
            return self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length required", close=True)
        if not re.fullmatch(r"[0-9]+", length):  # str.isdigit() takes "²", which int() refuses
            return self._error(HTTPStatus.BAD_REQUEST, "bad Content-Length", close=True)
        if int(length) > MAX_BODY_BYTES:
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"request body over {MAX_BODY_BYTES} bytes", close=True)
        try:
            raw = self.rfile.read(int(length))
        except OSError:  # TimeoutError included: the client sent less than it announced and waited
            return self._error(HTTPStatus.REQUEST_TIMEOUT, "request body shorter than its Content-Length",
                               close=True)
        if len(raw) < int(length):  # the client closed its side early
            return self._error(HTTPStatus.BAD_REQUEST, "request body shorter than its Content-Length", close=True)
        try:
            payload = json.loads(raw or b"{}")
        except RecursionError:
            return self._error(HTTPStatus.BAD_REQUEST, "bad request body: nested too deeply")
        except ValueError as exc:  # the message gives a position, never the body
            return self._error(HTTPStatus.BAD_REQUEST, f"bad request body: not JSON ({type(exc).__name__})")
        if not isinstance(payload, dict):
            return self._error(HTTPStatus.BAD_REQUEST, "bad request body: expected a JSON object")
        path = urlsplit(self.path).path
        try:
            if path == "/api/grade":
                return self._json(HTTPStatus.OK, self._indexed(self.session.grade(self._object_id(payload),
                                                                                   payload.get("grade"))))
            if path == "/api/undo":
                result = self.session.undo()
                if result["undone"]:
                    result["undone"] = self._indexed(result["undone"])
                return self._json(HTTPStatus.OK, result)
            if path == "/api/note":
                return self._json(HTTPStatus.OK, self._indexed(self.session.note(
                    self._object_id(payload), payload.get("flags", []), payload.get("comment", ""))))
        except InputError as exc:
            return self._error(HTTPStatus.CONFLICT, str(exc))
        except OSError as exc:  # the grade was not saved: tell the page loudly
            log.error("cannot write %s: %s", self.session.grades_path, exc)
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"NOT saved: {exc}")
        return self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {path[:80]}")

    def _object_id(self, payload: dict):
        """The object of the request's ``item`` (index in the set), so blind pages never hold object ids."""
        item = payload.get("item")
        if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item < len(self.session.items):
            raise InputError(f"item: expected an index 0..{len(self.session.items) - 1}")
        return self.session.items[item]["object_id"]

    def _indexed(self, result: dict) -> dict:
        """A session result with ``object_id`` replaced by the item index."""
        out = {k: v for k, v in result.items() if k != "object_id"}
        out["item"] = self.session.index_of(result["object_id"])
        return out


def _same_secret(value, secret: str) -> bool:
    if not isinstance(value, str):
        return False
    return hmac.compare_digest(value.encode("utf-8", "surrogateescape"), secret.encode())


def cookie_name(server) -> str:
    """The cookie holding ``server``'s secret: one per port, as cookies are shared by every port of a host."""
    return f"lensfinder-token-{server.server_address[1]}"


def page_url(server) -> str:
    """The URL to open: the page with the server's secret, which the first request turns into a cookie."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/?{TOKEN_PARAM}={server.token}"


def make_server(session: GradingSession, port: int = 0) -> ThreadingHTTPServer:
    """A threaded HTTP server for ``session`` bound to 127.0.0.1 (``port=0``: any free port).

    ``server.token`` is the per-server secret: every request must carry it, as
    the cookie set by the first request to :func:`page_url` (``?token=``), or
    in :data:`TOKEN_HEADER`, which the page also sends with every state-changing
    request. Anything else gets 403.
    """
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.session = session  # type: ignore[attr-defined]
    server.token = secrets.token_urlsafe(32)  # type: ignore[attr-defined]
    return server


def serve_grading(set_dir, inspector: str, scheme: str = "li2020", grades_path=None, port: int = 0, *,
                  unblind: bool = False, feedback: bool = False, tile_dir=None, survey: str | None = None,
                  field_arcsec: float = 60.0, flags=DEFAULT_FLAGS) -> int:
    """Serve the grading page of ``set_dir`` for one inspector until Ctrl+C; returns the number graded.

    Parameters
    ----------
    set_dir : path-like
        Inspection set directory (``manifest.parquet``, ``png/``, ``stamps_r.fits``).
    inspector : str
        Name written in every grade row.
    scheme : {"li2020", "he2020"}
    grades_path : path-like, optional
        Grades CSV to append to; default ``set_dir/human_grades.csv``.
    port : int
        Port on 127.0.0.1; 0 takes any free port (logged).
    unblind, feedback, tile_dir, survey, field_arcsec, flags
        See :class:`~lensfinder.inspection.session.GradingSession`.
    """
    from pathlib import Path

    grades = Path(grades_path) if grades_path else Path(set_dir) / "human_grades.csv"
    session = GradingSession(set_dir, inspector, scheme, grades, unblind=unblind, feedback=feedback,
                             tile_dir=tile_dir, survey=survey, field_arcsec=field_arcsec, flags=flags)
    try:
        try:
            server = make_server(session, port)
        except OSError as exc:  # EADDRINUSE, EACCES: a message, not a traceback
            raise InputError(f"--port {port}: cannot serve on 127.0.0.1:{port} ({exc.strerror or exc}); "
                             f"is it in use? Choose another port, or 0 for any free one") from None
        log.info("grading %d objects as %s (%s, %s); grades -> %s", len(session.items), session.inspector,
                 session.scheme, "UNBLINDED" if unblind else "blind", grades)
        log.info("open %s in a browser on this machine (the token in it is the page's key: keep it to "
                 "yourself); Ctrl+C to stop", page_url(server))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped; %d objects graded by %s", session.n_graded(), session.inspector)
        finally:
            server.server_close()
        return session.n_graded()
    finally:
        session.close()
