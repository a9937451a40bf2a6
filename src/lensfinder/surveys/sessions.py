"""HTTP sessions of the survey backends: a default timeout, and credentials kept to their own hosts.

:func:`make_session` gives a ``requests.Session`` that puts a bearer token
(``LENSFINDER_ESO_TOKEN``) only on requests to the hosts it belongs to, over
HTTPS, and closes the streamed replies pyvo leaves open; :func:`own_session`
lends a caller's session or a new one. Retries and downloads are in
:mod:`lensfinder.surveys.base`, which also exports these names; the network
rules are in ``docs/surveys.md``.
"""

from __future__ import annotations

import contextlib
import os

from lensfinder.constants import HTTP_TIMEOUT_S

__all__ = ["DEFAULT_TIMEOUT_S", "ESO_TOKEN_HOSTS", "make_session", "own_session", "token_allowed"]

#: seconds to wait for a server's first byte (and between bytes of a stream)
DEFAULT_TIMEOUT_S = HTTP_TIMEOUT_S
#: hosts that ``LENSFINDER_ESO_TOKEN`` belongs to: the ESO archive's TAP,
#: Datalink and SODA services and its data portal (file downloads)
ESO_TOKEN_HOSTS = ("archive.eso.org", "dataportal.eso.org")


def make_session(timeout_s: float = DEFAULT_TIMEOUT_S, token_env: str | None = "LENSFINDER_ESO_TOKEN",
                 token_hosts=None):
    """A ``requests.Session`` with a default timeout and a bearer token kept to its own hosts.

    Parameters
    ----------
    timeout_s : float
        Timeout (s) of every request that does not pass its own.
    token_env : str or None
        Environment variable that may hold a bearer token; ``None``: no token.
        Without one, requests falls back to ``~/.netrc`` for hosts listed there;
        with one, the token replaces a ``~/.netrc`` entry of its own hosts.
    token_hosts : iterable of str, optional
        Hosts (``"host"`` or ``"host:port"``) the token belongs to; default
        :data:`ESO_TOKEN_HOSTS`, or the comma-separated list in the
        environment variable ``<token_env>_HOSTS``. The token is put on a
        request, and on a redirect, only when its URL's host is one of them
        (:func:`token_allowed`); anywhere else the header is removed.
    """
    import requests

    from lensfinder import __version__

    token = os.environ.get(token_env) if token_env else None
    if token_hosts is None:
        listed = os.environ.get(f"{token_env}_HOSTS", "") if token_env else ""
        token_hosts = [h.strip() for h in listed.split(",") if h.strip()] or ESO_TOKEN_HOSTS
    hosts = frozenset(h.lower() for h in token_hosts)

    class _TimeoutSession(requests.Session):
        # pyvo reads streamed replies (UWS job documents, VOTables) with an XML
        # parser that may stop before EOF and never closes them, leaving the
        # socket to the garbage collector; the session closes them instead.
        _streamed: list

        def request(self, method, url, **kwargs):
            kwargs.setdefault("timeout", timeout_s)
            response = super().request(method, url, **kwargs)
            if kwargs.get("stream"):
                if response.status_code >= 400:
                    _buffer_error_body(response)
                else:
                    streamed = getattr(self, "_streamed", [])
                    self._streamed = [r for r in streamed if not r.raw.closed] + [response]
            return response

        def prepare_request(self, request):
            prepared = super().prepare_request(request)
            _scope_token(prepared, token, hosts)
            return prepared

        def rebuild_auth(self, prepared_request, response):
            # requests strips Authorization across hosts in some versions only
            # (and keeps it across ports of one host in older ones): decide here
            super().rebuild_auth(prepared_request, response)
            _scope_token(prepared_request, token, hosts)

        def close(self):
            for response in getattr(self, "_streamed", []):
                response.close()
            self._streamed = []
            super().close()

    session = _TimeoutSession()
    session.headers["User-Agent"] = f"lensfinder/{__version__} (+pyvo)"
    return session


def token_allowed(url: str, hosts) -> bool:
    """True when ``url``'s host (or ``host:port``) is one of ``hosts`` (lower case), over HTTPS or to a local host."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return False
    netloc = f"{host}:{parts.port}" if parts.port else host
    local = host in ("127.0.0.1", "localhost", "::1")
    return (host in hosts or netloc in hosts) and (parts.scheme == "https" or local)


def _scope_token(prepared, token, hosts) -> None:
    """Put the bearer token on a request to one of ``hosts`` (replacing the Basic credentials of a
    ``~/.netrc`` entry that requests put there: the environment's token wins); take it off anywhere else."""
    if not token:
        return
    bearer = f"Bearer {token}"
    if token_allowed(prepared.url, hosts):
        prepared.headers["Authorization"] = bearer
    elif prepared.headers.get("Authorization") == bearer:
        del prepared.headers["Authorization"]


def _buffer_error_body(response) -> None:
    """Read a streamed error reply now and close its connection.

    pyvo parses an error reply's VOTable from ``response.raw`` but never
    closes a streamed response, which leaks the socket. The body (small: an
    error document) is read here and ``raw`` replaced by an in-memory stream
    with the same interface, so pyvo still sees the service's message.
    """
    import io

    from urllib3 import HTTPResponse

    try:
        body = response.raw.read(decode_content=True)
    except Exception:  # a broken error reply: pyvo reports the HTTP status anyway
        body = b""
    finally:
        response.close()
    headers = {k: v for k, v in response.headers.items()
               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")}
    response.raw = HTTPResponse(body=io.BytesIO(body), headers=headers, status=response.status_code,
                                preload_content=False, decode_content=False)
    response._content = body
    response._content_consumed = True


@contextlib.contextmanager
def own_session(session=None, timeout_s: float = DEFAULT_TIMEOUT_S):
    """Yield ``session``, or a new :func:`make_session` that is closed afterwards."""
    if session is not None:
        yield session
        return
    with make_session(timeout_s) as new:
        yield new
