"""Shared TAP helpers: run an ADQL query with pyvo, turn the result into a table, check a sky circle.

Used by the KiDS (ESO ``tap_cat``/``tap_obs``) and Legacy Surveys (NOIRLab
Astro Data Lab) downloads alike.
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np

from lensfinder.io import InputError
from lensfinder.surveys.base import DownloadError, own_session, with_retries

__all__ = ["run_tap_query", "query_with_retries", "SyncTimeoutError", "is_timeout", "table_to_frame", "column_of",
           "check_region", "adql_circle", "as_text"]

log = logging.getLogger(__name__)

#: a sync query the service stopped for its own time limit: an ERROR VOTable
#: saying so (the wording is the service's; these cover the usual ones)
_SERVER_TIMEOUT_RE = re.compile(r"time[\s_-]?out|timed out|time limit|execution time|exceed", re.I)


class SyncTimeoutError(TimeoutError):
    """A synchronous TAP query timed out (client or server side); the retry runs it as an async job."""


def run_tap_query(query: str, tap_url: str, *, maxrec: int, mode: str = "sync", session=None,
                  job_timeout_s: float = 6 * 3600.0, what: str = "TAP query"):
    """Run one ADQL query with pyvo, synchronously or as an async UWS job.

    Parameters
    ----------
    query : str
        ADQL.
    tap_url : str
        TAP service base URL.
    maxrec : int
        Most rows the service may return (the service's own cap).
    mode : {"sync", "async"}
        An async job has no HTTP time limit.
    session : requests.Session, optional
        Default :func:`lensfinder.surveys.base.make_session`.
    job_timeout_s : float
        Longest wait (s) for an async job.
    what : str
        Names the query in messages.

    Returns
    -------
    astropy.table.Table
        The result. A result the service cut at ``maxrec`` (overflow) raises
        :class:`~lensfinder.surveys.base.DownloadError`: a silently truncated table would be wrong.
    """
    import pyvo
    from pyvo.dal.exceptions import DALOverflowWarning

    with own_session(session) as session, warnings.catch_warnings():
        service = pyvo.dal.TAPService(tap_url, session=session)
        warnings.simplefilter("ignore", DALOverflowWarning)  # checked explicitly below
        # UWS job documents carry future dates (destruction time) that ERFA
        # calls "dubious" beyond its leap-second table: noise, not an error
        warnings.filterwarnings("ignore", message=r'ERFA function "\w+" yielded .*dubious year')
        if mode == "sync":
            result = service.run_sync(query, maxrec=maxrec)
        elif mode == "async":
            job = service.submit_job(query, maxrec=maxrec)
            try:
                job.run()
                job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=job_timeout_s)
                job.raise_if_error()
                result = job.fetch_result()
            finally:
                try:
                    job.delete()
                except Exception as exc:  # a job left behind expires on the server
                    log.debug("%s: could not delete async job: %s", what, exc)
        else:
            raise InputError(f"mode: {mode!r}; expected 'sync', 'async' or 'auto'")
    if result.query_status == "OVERFLOW":
        raise DownloadError(f"{what}: result truncated at {maxrec} rows (OVERFLOW); query a smaller area")
    return result.to_table()


def is_timeout(exc: BaseException) -> bool:
    """True for a query that ran out of time: a client timeout, HTTP 408/504, or an ERROR VOTable saying so."""
    import requests
    from pyvo.dal.exceptions import DALQueryError, DALServiceError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.Timeout, TimeoutError)):
            return True
        if isinstance(exc, requests.HTTPError) and exc.response is not None and exc.response.status_code in (408, 504):
            return True
        if isinstance(exc, DALServiceError) and exc.code in (408, 504):
            return True
        if isinstance(exc, DALQueryError) and _SERVER_TIMEOUT_RE.search(str(exc)):
            return True
        nxt = getattr(exc, "cause", None)
        exc = nxt if isinstance(nxt, BaseException) else (exc.__cause__ or exc.__context__)
    return False


def query_with_retries(query: str, tap_url: str, *, what: str, retries: int, backoff_s: float, session=None,
                       mode: str = "sync", **kwargs):
    """:func:`run_tap_query` with transient failures retried (:func:`lensfinder.surveys.base.with_retries`).

    ``mode="auto"`` runs the query synchronously and, once it times out (on
    the client, or on the server: HTTP 408/504 or an ERROR VOTable about a
    time limit), retries it as an async UWS job, which has no HTTP time limit.
    Keyword arguments (``maxrec``, ``job_timeout_s``) go to :func:`run_tap_query`.
    """
    state = {"mode": "sync" if mode == "auto" else mode}

    def attempt(k: int):
        log.info("%s: TAP %s query (attempt %d)", what, state["mode"], k + 1)
        try:
            return run_tap_query(query, tap_url, session=session, what=what, mode=state["mode"], **kwargs)
        except Exception as exc:
            if mode != "auto" or state["mode"] != "sync" or not is_timeout(exc):
                raise
            state["mode"] = "async"
            raise SyncTimeoutError(f"sync query timed out ({type(exc).__name__}: {exc}); "
                                   "running it as an async job") from exc

    with own_session(session) as session:
        return with_retries(attempt, what, retries=retries, backoff_s=backoff_s)


def column_of(table, name: str) -> str:
    """The column of ``table`` called ``name``, compared case-insensitively as ADQL does; ``""`` if none."""
    if name in table.colnames:
        return name
    lowered = {c.lower(): c for c in table.colnames}
    return lowered.get(name.lower(), "")


def table_to_frame(table, columns: list[str], what: str):
    """astropy Table -> DataFrame with NaN for masked floats and the requested column order.

    Strings become ``str`` (masked: ``""``), masked integers float64 with NaN,
    other integers int64, booleans bool (masked: ``False``). Column names
    are matched case-insensitively (ADQL identifiers are; a service may
    return ``kids_tile`` for ``KIDS_TILE``) and come out as requested. A
    requested column the service did not return raises
    :class:`~lensfinder.surveys.base.DownloadError`.
    """
    import pandas as pd

    found = {name: column_of(table, name) for name in columns}
    missing = [name for name, col in found.items() if not col]
    if missing:
        raise DownloadError(f"{what}: the service returned no column(s) {', '.join(missing)}")
    data = {}
    for name in columns:
        col = table[found[name]]
        values = np.ma.asarray(col)
        kind = values.dtype.kind
        if kind in "SUO":
            filled = np.ma.filled(values.astype(str), "")
            data[name] = pd.array([s.decode() if isinstance(s, bytes) else str(s) for s in filled], dtype=str) \
                if len(filled) else pd.array([], dtype=str)
        elif kind == "f":
            data[name] = np.ma.filled(values.astype(np.float64), np.nan)
        elif kind in "iu":
            if np.ma.is_masked(values):
                data[name] = np.ma.filled(values.astype(np.float64), np.nan)
            else:
                data[name] = np.asarray(values).astype(np.int64)
        elif kind == "b":
            data[name] = np.ma.filled(values, False).astype(bool)
        else:
            data[name] = np.asarray(values)
    return pd.DataFrame(data)


def check_region(region) -> tuple[float, float, float]:
    """``(ra_deg, dec_deg, radius_deg)`` of a sky circle as floats; out of range: :class:`~lensfinder.io.InputError`."""
    try:
        ra, dec, radius = (float(v) for v in region)
    except (TypeError, ValueError):
        raise InputError(f"region: {region!r}; expected (ra_deg, dec_deg, radius_deg)") from None
    if not (0 <= ra < 360 and -90 <= dec <= 90 and 0 < radius <= 180):
        raise InputError(f"region: ra={ra}, dec={dec}, radius={radius} deg out of range")
    return ra, dec, radius


def adql_circle(ra_column: str, dec_column: str, ra_deg: float, dec_deg: float, radius_deg: float) -> str:
    """ADQL condition: the position columns lie within ``radius_deg`` of ``(ra_deg, dec_deg)`` (ICRS)."""
    return (f"CONTAINS(POINT('ICRS', {ra_column}, {dec_column}), "
            f"CIRCLE('ICRS', {ra_deg!r}, {dec_deg!r}, {radius_deg!r})) = 1")


def as_text(value) -> str:
    """A VOTable cell as ``str``: bytes decoded, masked or ``None`` as ``""``."""
    if value is None or value is np.ma.masked:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
