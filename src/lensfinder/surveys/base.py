"""The survey-backend interface and the HTTP plumbing every backend shares.

:class:`SurveyBackend` is what the pipeline asks of a survey (catalogue rows,
tile images, cutouts, pixel scale, zero point, column map); the functions
retry transient failures and download files resumably, and the sessions they
use (:mod:`lensfinder.surveys.sessions`) are exported here too. The network
rules are in ``docs/surveys.md``.
"""

from __future__ import annotations

import abc
import logging
import os
import time
from pathlib import Path
from typing import Callable, TypeVar

from lensfinder.io import InputError
from lensfinder.surveys.sessions import DEFAULT_TIMEOUT_S, ESO_TOKEN_HOSTS, make_session, own_session, token_allowed

__all__ = [
    "SurveyBackend", "DownloadError", "make_session", "own_session", "is_transient", "with_retries",
    "download_file", "cache_folder", "token_allowed", "DEFAULT_TIMEOUT_S", "ESO_TOKEN_HOSTS",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_CHUNK_BYTES = 1 << 16


class DownloadError(InputError):
    """A remote input (a tile, a file) could not be fetched; the message names it.

    A subclass of :class:`lensfinder.io.InputError` so the command line
    reports it as a clear one-line error (exit code 2).
    """


class SurveyBackend(abc.ABC):
    """What the pipeline needs from a survey.

    Attributes
    ----------
    name : str
        Short survey name (``"kids_dr4"``, ``"legacy_dr10"``).
    pixel_scale_arcsec : float
        Pixel scale of the images the backend delivers (arcsec/px).
    bands : tuple of str
        Bands the backend serves.
    """

    name: str = ""
    pixel_scale_arcsec: float = float("nan")
    bands: tuple[str, ...] = ()

    @abc.abstractmethod
    def column_map(self):
        """Catalogue role -> column name (:class:`lensfinder.surveys.columns.ColumnMap` or a dict)."""

    @abc.abstractmethod
    def zeropoint_mag(self, header=None) -> float:
        """Photometric zero point of the image counts: ``mag = ZP - 2.5 log10(counts)``.

        ``header`` is the FITS header of an image, for surveys that record a
        per-image zero point.
        """

    @abc.abstractmethod
    def query_catalog(self, *, tile: str | None = None, region: tuple[float, float, float] | None = None):
        """Catalogue rows of one tile, or of a circle ``(ra_deg, dec_deg, radius_deg)``, as a DataFrame."""

    @abc.abstractmethod
    def fetch_cutout(self, ra_deg: float, dec_deg: float, size_arcsec: float, band: str, out) -> Path:
        """Write a cutout around ``(ra_deg, dec_deg)`` to ``out`` (FITS); return the path."""

    def fetch_image(self, tile: str, band: str, out_image, out_weight=None, out_mask=None):
        """Write one tile's coadd (and weight, mask where the survey has them)."""
        raise NotImplementedError(f"{self.name}: whole-tile images are not available; use fetch_cutout")

    def close(self) -> None:
        """Close the backend's HTTP session, if it has one."""
        session = getattr(self, "session", None)
        if session is not None:
            session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: expat's messages for a document that ends too early: a reply cut off mid-stream, or an empty body
_XML_CUT_OFF = ("no element found", "unclosed token", "partial character", "unclosed CDATA section")


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: timeouts, lost connections, 429, 5xx, truncated replies (a read cut
    off: urllib3 ``ProtocolError``, ``IncompleteRead``; a pyvo ``DALFormatError`` of XML that ends early, an
    empty body included, or of a VOTable without a table)."""
    from http.client import IncompleteRead
    from xml.parsers.expat import ExpatError

    import requests
    from pyvo.dal.exceptions import DALFormatError, DALQueryError, DALServiceError
    from urllib3.exceptions import ProtocolError

    seen = set()
    unparsed = False  # inside a DALFormatError's causes
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                            TimeoutError, ConnectionError, ProtocolError, IncompleteRead)):
            return True
        if unparsed and isinstance(exc, (ValueError, SyntaxError, ExpatError)) and any(
                message in str(exc) for message in _XML_CUT_OFF):
            return True
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            status = exc.response.status_code
            return status == 429 or status >= 500
        if isinstance(exc, DALQueryError):
            return False
        if isinstance(exc, DALServiceError) and exc.code:  # 0 or None: no HTTP status, look at the cause
            return exc.code == 429 or exc.code >= 500
        if isinstance(exc, _TruncatedError):
            return True
        unparsed = unparsed or isinstance(exc, DALFormatError)
        nxt = getattr(exc, "cause", None)
        if not isinstance(nxt, BaseException):
            nxt = exc.__cause__ or exc.__context__
        if nxt is None and isinstance(exc, DALFormatError):
            return True  # an unparseable (cut-off) reply
        exc = nxt
    return False


def with_retries(func: Callable[[int], T], what: str, retries: int = 4, backoff_s: float = 2.0,
                 max_backoff_s: float = 300.0, sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``func(attempt)`` until it succeeds, retrying transient failures.

    Parameters
    ----------
    func : callable
        Called with the attempt number (0, 1, ...); may change strategy on
        later attempts (e.g. switch a TAP query from sync to async).
    what : str
        Names the thing being fetched (a tile, a file) in log and error messages.
    retries : int
        Retries after the first attempt (so ``retries + 1`` attempts in all).
    backoff_s : float
        First wait (s); doubles on every retry, capped at ``max_backoff_s``.

    Raises
    ------
    DownloadError
        After the last failed attempt, or at once for a non-transient failure;
        the message names ``what``.
    """
    attempt = 0
    while True:
        try:
            return func(attempt)
        except DownloadError:
            raise
        except Exception as exc:  # classified below; non-transient ones fail at once
            transient = is_transient(exc)
            if not transient or attempt >= retries:
                tries = f"after {attempt + 1} attempt(s)" if transient else "(not retried)"
                raise DownloadError(f"{what}: download failed {tries}: {type(exc).__name__}: {exc}") from exc
            wait = min(max_backoff_s, backoff_s * 2 ** attempt)
            log.warning("%s: attempt %d failed (%s: %s); retrying in %.1f s",
                        what, attempt + 1, type(exc).__name__, exc, wait)
            sleep(wait)
            attempt += 1


class _TruncatedError(IOError):
    """A stream ended before the announced size."""


def cache_folder(cache_dir, out) -> Path:
    """Where raw downloads are kept: ``cache_dir``, or ``cache/`` beside the output file ``out`` when ``None``."""
    return Path(cache_dir) if cache_dir is not None else Path(out).parent / "cache"


def download_file(url: str, dest, *, session=None, params: dict | None = None, expected_size: int | None = None,
                  retries: int = 4, backoff_s: float = 2.0, what: str | None = None, verify=None) -> Path:
    """Stream ``url`` to ``dest``, resuming and verifying; skip if ``dest`` exists.

    Parameters
    ----------
    url : str
        File URL (GET).
    dest : path
        Final path; the partial download lives in ``<dest>.part`` meanwhile.
    session : requests.Session, optional
        Default :func:`make_session`.
    params : dict, optional
        Query parameters.
    expected_size : int, optional
        Size in bytes the file must have (e.g. Datalink ``content_length``);
        otherwise the server's ``Content-Length`` is used when given.
    retries, backoff_s
        See :func:`with_retries`. A resume after a cut-off stream counts as a retry.
    what : str, optional
        Name for messages (default: ``dest``).
    verify : callable, optional
        ``verify(path)`` raises on a bad file (e.g. a FITS checksum check); a
        failing file is deleted and fetched again from scratch once.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    dest = Path(dest)
    what = what or str(dest)
    if dest.exists():
        log.info("%s: already downloaded (%s)", what, dest)
        return dest
    with own_session(session) as session:
        return _download(url, dest, session, params, expected_size, retries, backoff_s, what, verify)


def _download(url, dest: Path, session, params, expected_size, retries, backoff_s, what, verify) -> Path:
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)

    def attempt(_: int) -> Path:
        have = part.stat().st_size if part.exists() else 0
        if expected_size is not None and have > expected_size:
            part.unlink()  # longer than the real file: not ours to resume
            have = 0
        if expected_size is not None and have == expected_size:
            return part
        headers = {"Accept-Encoding": "identity",  # so Content-Length and Range count the file's own bytes
                   **({"Range": f"bytes={have}-"} if have else {})}
        with session.get(url, params=params, headers=headers, stream=True) as response:
            if have and response.status_code == 416:
                part.unlink()  # the server cannot resume this: start over
                raise _TruncatedError(f"{what}: server refused to resume at byte {have}; restarting")
            response.raise_for_status()
            encoded = response.headers.get("Content-Encoding", "").strip().lower() not in ("", "identity")
            if have and (response.status_code != 206 or encoded):
                have = 0  # server ignored Range (or compressed anyway): rewrite from the start
            total = expected_size
            length = response.headers.get("Content-Length")
            if total is None and length is not None and not encoded:
                total = have + int(length)
            with open(part, "ab" if have else "wb") as fh:
                for chunk in response.iter_content(_CHUNK_BYTES):
                    fh.write(chunk)
            if encoded and length is not None and response.raw.tell() != int(length):
                part.unlink()  # Content-Length counts the compressed bytes, not those written
                raise _TruncatedError(f"{what}: got {response.raw.tell()} of {length} compressed bytes")
        size = part.stat().st_size
        if total is not None and size != total:
            raise _TruncatedError(f"{what}: got {size} of {total} bytes")
        return part

    with_retries(attempt, what, retries=retries, backoff_s=backoff_s)
    if verify is not None:
        try:
            verify(part)
        except Exception as exc:
            part.unlink(missing_ok=True)
            log.warning("%s: verification failed (%s); downloading again", what, exc)
            with_retries(attempt, what, retries=retries, backoff_s=backoff_s)
            try:
                verify(part)
            except Exception as exc2:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{what}: downloaded file fails verification: {exc2}") from exc2
    os.replace(part, dest)
    log.info("%s: downloaded %d bytes -> %s", what, dest.stat().st_size, dest)
    return dest
