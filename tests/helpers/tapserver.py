"""A real HTTP server on 127.0.0.1 that answers like the ESO archive, for offline tests.

It speaks enough of the IVOA protocols for pyvo and our downloaders to run
unmodified against it:

- TAP (``/tap_cat``, ``/tap_obs``): ``/sync`` (POST or GET, form fields
  ``REQUEST``, ``LANG``, ``QUERY``, ``MAXREC``) and ``/async`` (job creation
  answered with a 303 redirect to ``/async/{id}``, UWS 1.1 job documents,
  ``/phase`` with ``PHASE=RUN``, ``/results/result``, DELETE). Results are
  VOTables written by astropy from the tables registered in
  :attr:`TapServer.tables`, filtered by the query's ``col = 'value'``,
  ``col LIKE 'x%'`` and ``CONTAINS(POINT(...), CIRCLE(...)) = 1``
  conditions, and ObsCore's ``CONTAINS(POINT(...), s_region) = 1`` against
  each row's ``POLYGON J2000`` footprint; errors are VOTables with
  ``QUERY_STATUS = ERROR``, as ESO sends.
- Datalink (``/datalink/links?ID=``) with ESO's extra columns
  (``eso_category``, ``eso_origfile``), previews and a SODA service descriptor.
- Files (``/dataPortal/file/{dp_id}``) with ``Content-Length`` and HTTP
  ``Range``; SODA (``/soda/sync?ID=&CIRCLE=``) cutting the stored FITS files;
  the Legacy Surveys viewer (``/viewer/fits-cutout``): raw answers from
  :attr:`TapServer.legacy_image`, or built as the viewer builds them
  (:func:`viewer_cutout`) from :attr:`TapServer.legacy_sky`.
- Redirects (:attr:`TapServer.redirects`: path -> absolute URL, HTTP 302).
- Faults, queued with :meth:`TapServer.add_fault` and consumed in order:
  ``"timeout"`` (answer after the client gave up), ``"500"``/``"503"``/
  ``"504"``/``"408"``, ``"query_timeout"`` (a sync TAP query stopped by the
  server's time limit: HTTP 200 and an ERROR VOTable saying so),
  ``"truncate"`` (announce the full length, send half, hang up; files, the
  viewer and sync TAP), ``"cut_off"`` (send half without a length and close:
  the viewer and sync TAP), ``"empty"`` (sync TAP: HTTP 200, no body),
  ``"corrupt"`` (files: right size, damaged bytes), ``"gzip"`` (files:
  ``Content-Encoding: gzip`` when the request's ``Accept-Encoding`` allows
  it, as a server that compresses does) and ``"gzip_always"`` (files:
  compressed whatever the request accepts).

Every request is logged in :attr:`TapServer.requests` as ``(method, path, params, headers)``.
"""

from __future__ import annotations

import fnmatch
import io
import itertools
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np

__all__ = ["TapServer", "votable_bytes", "synthetic_tile_fits", "viewer_cutout", "VIEWER_MAX_SIZE_PIX"]

#: the viewer's ``maxsize`` in ``get_cutout`` (legacysurvey/imagine map/views.py): larger sizes are clipped
VIEWER_MAX_SIZE_PIX = 3000
#: the viewer's native pixel scale; invvar and maskbits exist only there ("no scaled invvars or maskbits")
VIEWER_NATIVE_PIXSCALE = 0.262


def votable_bytes(frame, columns=None, status="OK") -> bytes:
    """A TAP result VOTable (astropy) of ``frame[columns]`` with a QUERY_STATUS INFO."""
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import Info
    from astropy.table import Table

    columns = list(frame.columns) if columns is None else columns
    table = Table()
    for name in columns:
        values = frame[name].to_numpy()
        if values.dtype.kind in "OUS" or str(frame[name].dtype) in ("str", "string"):
            table[name] = np.array([str(v) for v in values], dtype=str) if len(values) else np.array([], dtype="U1")
        else:
            table[name] = values
    vot = from_table(table)
    vot.resources[0].infos.append(Info(name="QUERY_STATUS", value=status))
    buf = io.BytesIO()
    vot.to_xml(buf)
    return buf.getvalue()


def _error_votable(message: str) -> bytes:
    from xml.sax.saxutils import escape

    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
            '<RESOURCE type="results">\n'
            f'<INFO name="QUERY_STATUS" value="ERROR">{escape(message)}</INFO>\n'
            '</RESOURCE>\n</VOTABLE>\n').encode()


def synthetic_tile_fits(ra_deg: float, dec_deg: float, kind: str = "image", size_pix: int = 300,
                        seed: int = 0, origfile: str | None = None, obj: str | None = None) -> bytes:
    """Small FITS file shaped like a KiDS coadd product (TAN WCS, 0.2"/px, checksums).

    ``origfile`` and ``obj`` become the ESO Phase 3 cards ``ORIGFILE`` and ``OBJECT``.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.crpix = [size_pix / 2 + 0.5, size_pix / 2 + 0.5]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    header = wcs.to_header()
    if obj:
        header["OBJECT"] = obj
    if origfile:
        header["ORIGFILE"] = (origfile, "original file name")
    rng = np.random.default_rng(seed)
    if kind == "image":
        data = rng.normal(0.0, 1.0, (size_pix, size_pix)).astype(np.float32)
        data[size_pix // 2, size_pix // 2] = 1000.0
        header["PHOTZP"] = (30.0, "mag = PHOTZP - 2.5 log10(counts)")
        header["PSF_FWHM"] = (0.71, "arcsec")
        header["PRODCATG"] = "SCIENCE.IMAGE"
    elif kind == "weight":
        data = np.full((size_pix, size_pix), 4.0, dtype=np.float32)
        header["PRODCATG"] = "ANCILLARY.WEIGHTMAP"
    else:
        data = np.zeros((size_pix, size_pix), dtype=np.int32)
        data[:10, :10] = 40000  # beyond int16: must stay "masked" after conversion
        data[20:25, 20:25] = 16
        header["PRODCATG"] = "ANCILLARY.MASK"
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(data, header=header)]).writeto(buf, checksum=True)
    return buf.getvalue()


def viewer_cutout(params: dict, sky) -> tuple[int, bytes]:
    """(HTTP status, body) of a fits-cutout request, built as the Legacy Surveys viewer builds it.

    Follows ``get_cutout``/``write_cutout`` of legacysurvey/imagine
    (``map/views.py``): ``size`` clipped to 3000; the image in the primary
    HDU, then an inverse-variance HDU if ``invvar`` is in the query and a
    maskbits HDU if ``maskbits`` is, each marked only by ``IMAGETYP``
    (``IMAGE``/``INVVAR``/``MASKBITS``) in the same header; no invvar or
    maskbits off the native pixel scale; no brick touching the field is an
    unhandled error (HTTP 500). ``sky(ra, dec, size, pixscale)`` returns
    ``{"image", "invvar", "maskbits"}`` arrays, or ``None`` where no brick is.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    ra, dec = float(params["ra"]), float(params["dec"])
    pixscale = float(params.get("pixscale", VIEWER_NATIVE_PIXSCALE))
    size = min(int(params.get("size", 256)), VIEWER_MAX_SIZE_PIX)
    planes = sky(ra, dec, size, pixscale)
    if planes is None:
        return 500, b"<h1>Server Error (500)</h1>"
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    wcs.wcs.cdelt = [-pixscale / 3600, pixscale / 3600]
    header = wcs.to_header()
    header["BANDS"] = params.get("bands", "griz")
    native = abs(pixscale - VIEWER_NATIVE_PIXSCALE) < 1e-9
    hdus = [("IMAGE", planes["image"].astype(np.float32))]
    if "invvar" in params and native:
        hdus.append(("INVVAR", planes["invvar"].astype(np.float32)))
    if "maskbits" in params and native:
        hdus.append(("MASKBITS", planes["maskbits"].astype(np.int32)))
    out = []
    for k, (kind, data) in enumerate(hdus):
        hdr = header.copy()
        hdr["IMAGETYP"] = kind
        out.append(fits.PrimaryHDU(data, header=hdr) if k == 0 else fits.ImageHDU(data, header=hdr))
    buf = io.BytesIO()
    fits.HDUList(out).writeto(buf)
    return 200, buf.getvalue()


_SELECT_RE = re.compile(r"^\s*SELECT\s+(DISTINCT\s+)?(.*?)\s+FROM\s+(\S+)(?:\s+WHERE\s+(.*))?\s*$", re.S | re.I)
_EQ_RE = re.compile(r"(\w+)\s*=\s*'([^']*)'")
_LIKE_RE = re.compile(r"(\w+)\s+LIKE\s+'([^']*)'", re.I)
_REGION_RE = re.compile(
    r"CONTAINS\s*\(\s*POINT\s*\(\s*'[^']*'\s*,\s*([-+\d.eE]+)\s*,\s*([-+\d.eE]+)\s*\)\s*,\s*(\w+)\s*\)\s*=\s*1",
    re.I)
_CIRCLE_RE = re.compile(
    r"CONTAINS\s*\(\s*POINT\s*\(\s*'[^']*'\s*,\s*(\w+)\s*,\s*(\w+)\s*\)\s*,\s*"
    r"CIRCLE\s*\(\s*'[^']*'\s*,\s*([-+\d.eE]+)\s*,\s*([-+\d.eE]+)\s*,\s*([-+\d.eE]+)\s*\)\s*\)\s*=\s*1", re.I)


def _separation_deg(ra1, dec1, ra2, dec2):
    ra1, dec1, ra2, dec2 = map(np.radians, (ra1, dec1, ra2, dec2))
    cos = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(ra1 - ra2)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _in_polygon(region: str, ra_deg: float, dec_deg: float) -> bool:
    """Whether ``(ra, dec)`` lies inside an ObsCore ``POLYGON J2000 ra1 dec1 ...`` (gnomonic, even-odd rule)."""
    numbers = [float(v) for v in re.findall(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?", region.replace("J2000", ""))]
    if len(numbers) < 6:
        return False
    ra, dec = np.radians(numbers[0::2]), np.radians(numbers[1::2])
    ra0, dec0 = np.radians(ra_deg), np.radians(dec_deg)
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    if np.any(cos_c <= 0):
        return False
    x = np.cos(dec) * np.sin(ra - ra0) / cos_c
    y = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    inside = False
    for k in range(len(x)):
        x1, y1, x2, y2 = x[k - 1], y[k - 1], x[k], y[k]
        if (y1 > 0) != (y2 > 0) and 0 < x1 + (0 - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


class TapServer:
    """The server; use as a context manager or call :meth:`start` and :meth:`stop`."""

    def __init__(self):
        self.tables: dict = {}  # "schema.table" -> pandas.DataFrame
        self.files: dict[str, bytes] = {}  # dp_id -> bytes
        self.datalinks: dict[str, list[dict]] = {}  # dp_id of the science image -> products
        self.legacy_image = None  # callable(params) -> bytes: the raw answer
        self.legacy_sky = None  # callable(ra, dec, size, pixscale) -> planes or None: see viewer_cutout
        self.redirects: dict[str, str] = {}  # path -> absolute URL (HTTP 302)
        self.faults: list[tuple[str, str]] = []
        self.requests: list[tuple[str, str, dict, dict]] = []
        self.jobs: dict[str, dict] = {}
        self.slow_s = 2.0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    # -- set-up ---------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add_fault(self, path_pattern: str, action: str, times: int = 1) -> None:
        """Queue ``action`` for the next ``times`` requests whose path matches ``path_pattern`` (regex)."""
        with self._lock:
            self.faults.extend([(path_pattern, action)] * times)

    def count(self, path_pattern: str, method: str | None = None) -> int:
        """Requests so far whose path matches ``path_pattern``."""
        return sum(1 for m, p, _, _ in self.requests if re.search(path_pattern, p) and (method in (None, m)))

    def start(self) -> "TapServer":
        # import before serving: a first import inside a handler thread can
        # outlast a test client's short timeout
        import importlib

        for module in ("astropy.io.votable", "astropy.io.fits", "astropy.nddata", "astropy.wcs"):
            importlib.import_module(module)

        server = self

        class Handler(_Handler):
            tap = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- behaviour --------------------------------------------------------------
    def take_fault(self, path: str) -> str | None:
        with self._lock:
            for k, (pattern, action) in enumerate(self.faults):
                if re.search(pattern, path):
                    del self.faults[k]
                    return action
        return None

    def run_query(self, query: str, maxrec: int | None) -> tuple[int, bytes]:
        """(HTTP status, VOTable bytes) for one ADQL query."""
        m = _SELECT_RE.match(query or "")
        if not m:
            return 400, _error_votable(f"cannot parse query: {query!r}")
        distinct, select, table_name, where = m.groups()
        frame = self.tables.get(table_name)
        if frame is None:
            return 400, _error_votable(f"Table '{table_name}' does not exist")
        columns = [c.strip() for c in select.split(",")]
        if columns == ["*"]:
            columns = list(frame.columns)
        # ADQL identifiers are case-insensitive; the reply names columns as the table does
        stored = {str(c).lower(): c for c in frame.columns}
        unknown = [c for c in columns if c.lower() not in stored]
        if unknown:
            return 400, _error_votable(f"Column '{unknown[0]}' does not exist in {table_name}")
        columns = [stored[c.lower()] for c in columns]
        keep = np.ones(len(frame), dtype=bool)
        where = where or ""
        for region in _REGION_RE.finditer(where):
            ra, dec, column = region.groups()
            column = stored[column.lower()]
            keep &= np.array([_in_polygon(str(v), float(ra), float(dec)) for v in frame[column]], dtype=bool)
        where = _REGION_RE.sub("", where)
        for circle in _CIRCLE_RE.finditer(where):
            ra_col, dec_col, ra, dec, radius = circle.groups()
            ra_col, dec_col = stored[ra_col.lower()], stored[dec_col.lower()]
            sep = _separation_deg(frame[ra_col].to_numpy(float), frame[dec_col].to_numpy(float), float(ra), float(dec))
            keep &= sep <= float(radius)
        where = _CIRCLE_RE.sub("", where)
        for column, value in _EQ_RE.findall(where):
            if column.lower() in stored:
                keep &= frame[stored[column.lower()]].astype(str).to_numpy() == value
        for column, pattern in _LIKE_RE.findall(where):
            column = stored.get(column.lower())
            if column is not None:
                glob = pattern.replace("%", "*").replace("_", "?")
                keep &= np.array([fnmatch.fnmatchcase(str(v), glob) for v in frame[column]], dtype=bool)
        result = frame.loc[keep, columns]
        if distinct:
            result = result.drop_duplicates()
        status = "OK"
        if maxrec is not None and len(result) > maxrec:
            result, status = result.iloc[:maxrec], "OVERFLOW"
        return 200, votable_bytes(result.reset_index(drop=True), columns, status=status)

    def datalink_xml(self, base: str, dp_id: str) -> bytes:
        """ESO-style Datalink document of one science product: its files, previews and a SODA descriptor.

        Each product of :attr:`datalinks` is a dict with ``dp_id``,
        ``semantics``, ``category``, ``origfile`` and optionally
        ``content_type`` and ``description``.
        """
        from xml.sax.saxutils import escape

        def cell(value) -> str:
            return f"<TD>{escape(str(value))}</TD>" if value not in (None, "") else "<TD/>"

        rows = []
        for product in self.datalinks[dp_id]:
            size = len(self.files[product["dp_id"]]) if product["dp_id"] in self.files else -1
            rows.append("<TR>" + "".join(cell(v) for v in (
                f"ivo://eso.org/ID?{dp_id}", f"{base}/dataPortal/file/{product['dp_id']}", "", "",
                product["semantics"], product.get("description", ""), product.get("content_type", "application/fits"),
                size, product["category"], product["origfile"])) + "</TR>")
        rows.append(f"<TR><TD>ivo://eso.org/ID?{dp_id}</TD><TD/><TD>soda_sync</TD><TD/><TD>#cutout</TD>"
                    "<TD>SODA sync cutout service</TD><TD>application/fits</TD><TD>-1</TD><TD/><TD/></TR>")
        star = ' arraysize="*"'
        fields = "".join(
            f'<FIELD name="{n}" datatype="{t}"{star if t == "char" else ""}>'
            + ('<VALUES null="-1"/>' if n == "content_length" else "") + "</FIELD>"
            for n, t in [("ID", "char"), ("access_url", "char"), ("service_def", "char"), ("error_message", "char"),
                         ("semantics", "char"), ("description", "char"), ("content_type", "char"),
                         ("content_length", "long"), ("eso_category", "char"), ("eso_origfile", "char")])
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
            '<RESOURCE type="results"><TABLE>' + fields + "<DATA><TABLEDATA>" + "".join(rows)
            + "</TABLEDATA></DATA></TABLE></RESOURCE>\n"
            '<RESOURCE type="meta" utype="adhoc:service" ID="soda_sync">'
            '<GROUP name="inputParams">'
            f'<PARAM name="ID" datatype="char" arraysize="*" value="ivo://eso.org/ID?{dp_id}"/>'
            '<PARAM name="CIRCLE" datatype="double" arraysize="3" xtype="circle" unit="deg" value=""/>'
            "</GROUP>"
            f'<PARAM name="accessURL" datatype="char" arraysize="*" value="{base}/soda/sync"/>'
            '<PARAM name="standardID" datatype="char" arraysize="*" value="ivo://ivoa.net/std/SODA#sync-1.0"/>'
            "</RESOURCE>\n</VOTABLE>\n").encode()

    def soda_cutout(self, params: dict) -> tuple[int, bytes]:
        from astropy.coordinates import SkyCoord
        from astropy.io import fits
        from astropy.nddata import Cutout2D
        from astropy.wcs import WCS
        import astropy.units as u

        dp_id = params.get("ID", "").rsplit("?", 1)[-1]
        if dp_id not in self.files or "CIRCLE" not in params:
            return 400, b"bad SODA request"
        ra, dec, radius = (float(v) for v in params["CIRCLE"].split())
        with fits.open(io.BytesIO(self.files[dp_id])) as hdul:
            wcs = WCS(hdul[0].header)
            size = 2 * radius * u.deg
            cut = Cutout2D(hdul[0].data, SkyCoord(ra, dec, unit="deg"), (size, size), wcs=wcs, mode="partial",
                           fill_value=0)
            header = hdul[0].header.copy()
            header.update(cut.wcs.to_header())
            buf = io.BytesIO()
            fits.PrimaryHDU(cut.data, header=header).writeto(buf, checksum=True)
        return 200, buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    tap: TapServer

    def log_message(self, format, *args):  # quiet
        pass

    # -- plumbing ---------------------------------------------------------------
    def _params(self) -> dict:
        parsed = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params.update({k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()})
        return {k.upper() if k.upper() in ("QUERY", "REQUEST", "LANG", "MAXREC", "PHASE", "ID", "CIRCLE", "WAIT")
                else k: v for k, v in params.items()}

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/x-votable+xml",
              headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", {"Location": location})

    @property
    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # -- dispatch ---------------------------------------------------------------
    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        path = urlparse(self.path).path
        params = self._params()
        self.tap.requests.append((self.command, path, params, dict(self.headers)))
        fault = self.tap.take_fault(path)
        if fault == "timeout":
            time.sleep(self.tap.slow_s)
        elif fault in ("408", "500", "502", "503", "504"):
            return self._send(int(fault), b"<html>Server Error</html>", "text/html")
        try:
            self._route(path, params, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _route(self, path: str, params: dict, fault: str | None):
        if path in self.tap.redirects:
            return self._send(302, b"", "text/plain", {"Location": self.tap.redirects[path]})
        m = re.match(r"^/(tap_\w+)/(sync|async)(?:/(\w+))?(?:/(phase|results/result))?$", path)
        if m:
            if fault == "query_timeout" and m.group(2) == "sync":
                return self._send(200, _error_votable("Query execution was stopped: the synchronous query "
                                                      "exceeded the time limit (timeout); use an asynchronous query"))
            if fault in ("truncate", "cut_off", "empty") and m.group(2) == "sync":
                status, body = self.tap.run_query(params.get("QUERY", ""), None)
                if fault == "empty":
                    return self._send(200, b"")
                return self._truncated(body, content_type="application/x-votable+xml", length=fault == "truncate")
            return self._tap(m.group(1), m.group(2), m.group(3), m.group(4), params)
        if path == "/datalink/links":
            dp_id = params.get("ID", "").rsplit("?", 1)[-1]
            if dp_id not in self.tap.datalinks:
                return self._send(404, b"unknown ID", "text/plain")
            return self._send(200, self.tap.datalink_xml(self._base, dp_id),
                              "application/x-votable+xml;content=datalink")
        m = re.match(r"^/dataPortal/file/(.+)$", path)
        if m:
            return self._file(m.group(1), fault)
        if path == "/soda/sync":
            status, body = self.tap.soda_cutout(params)
            return self._send(status, body, "application/fits")
        if path == "/viewer/fits-cutout":
            if self.tap.legacy_image is None and self.tap.legacy_sky is None:
                return self._send(404, b"no legacy image", "text/plain")
            if self.tap.legacy_image is not None:
                body = self.tap.legacy_image(params)
            else:
                status, body = viewer_cutout(params, self.tap.legacy_sky)
                if status != 200:
                    return self._send(status, body, "text/html")
            if fault in ("truncate", "cut_off"):
                return self._truncated(body, length=fault == "truncate")
            return self._send(200, body, "application/fits")
        return self._send(404, b"not found", "text/plain")

    def _truncated(self, body: bytes, start: int = 0, content_type: str = "application/fits", length: bool = True):
        """Send half of ``body`` (from ``start``) and hang up; ``length``: announce the whole length."""
        self.send_response(200 if start == 0 else 206)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        half = start + (len(body) - start) // 2
        self.wfile.write(body[start:half])
        self.wfile.flush()
        self.close_connection = True

    def _file(self, dp_id: str, fault: str | None):
        body = self.tap.files.get(dp_id)
        if body is None:
            return self._send(404, b"no such file", "text/plain")
        if fault == "corrupt":
            mid = len(body) - 100
            body = body[:mid] + bytes(b ^ 0xFF for b in body[mid:mid + 50]) + body[mid + 50:]
        start = 0
        rng = self.headers.get("Range")
        if rng:
            m = re.match(r"bytes=(\d+)-$", rng)
            start = int(m.group(1)) if m else 0
            if start >= len(body):
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(body)}"})
        if fault == "truncate":
            return self._truncated(body, start)
        accepted = [c.split(";")[0].strip() for c in self.headers.get("Accept-Encoding", "").split(",")]
        if fault == "gzip_always" or (fault == "gzip" and "gzip" in accepted):
            import gzip

            return self._send(200, gzip.compress(body), "application/fits", {"Content-Encoding": "gzip"})
        if start:
            return self._send(206, body[start:], "application/fits",
                              {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})
        return self._send(200, body, "application/fits", {"Accept-Ranges": "bytes"})

    def _tap(self, service: str, mode: str, job_id: str | None, sub: str | None, params: dict):
        base = f"{self._base}/{service}"
        maxrec = int(params["MAXREC"]) if params.get("MAXREC") else None
        if mode == "sync":
            status, body = self.tap.run_query(params.get("QUERY", ""), maxrec)
            return self._send(status, body)
        if job_id is None:  # create a job
            if self.command != "POST":
                return self._send(200, b"<uws:jobs xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\"/>", "text/xml")
            job_id = f"job{next(self.tap._ids)}"
            self.tap.jobs[job_id] = {"phase": "PENDING", "query": params.get("QUERY", ""), "maxrec": maxrec,
                                     "result": None, "error": None}
            return self._redirect(f"{base}/async/{job_id}")
        job = self.tap.jobs.get(job_id)
        if job is None:
            return self._send(404, b"no such job", "text/plain")
        if self.command == "DELETE":
            del self.tap.jobs[job_id]
            return self._redirect(f"{base}/async")
        if sub == "phase":
            if self.command == "POST" and params.get("PHASE", "").upper() == "RUN":
                status, body = self.tap.run_query(job["query"], job["maxrec"])
                if status == 200:
                    job.update(phase="COMPLETED", result=body)
                else:
                    job.update(phase="ERROR", error="query failed")
                return self._redirect(f"{base}/async/{job_id}")
            return self._send(200, job["phase"].encode(), "text/plain")
        if sub == "results/result":
            if job["result"] is None:
                return self._send(404, b"no result", "text/plain")
            return self._send(200, job["result"])
        return self._send(200, self._uws(base, job_id, job), "text/xml")

    @staticmethod
    def _uws(base: str, job_id: str, job: dict) -> bytes:
        from xml.sax.saxutils import escape

        results = (f'<uws:results><uws:result id="result" xlink:href="{base}/async/{job_id}/results/result"/>'
                   "</uws:results>" if job["result"] is not None else "<uws:results/>")
        error = (f'<uws:errorSummary type="fatal" hasDetail="false"><uws:message>{escape(job["error"])}'
                 "</uws:message></uws:errorSummary>" if job["error"] else "")
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.1">'
            f"<uws:jobId>{job_id}</uws:jobId><uws:runId/>"
            '<uws:ownerId xsi:nil="true"/>'
            f"<uws:phase>{job['phase']}</uws:phase>"
            '<uws:quote xsi:nil="true"/>'
            "<uws:creationTime>2026-01-01T00:00:00Z</uws:creationTime>"
            '<uws:startTime xsi:nil="true"/><uws:endTime xsi:nil="true"/>'
            "<uws:executionDuration>3600</uws:executionDuration>"
            "<uws:destruction>2036-01-01T00:00:00Z</uws:destruction>"
            "<uws:parameters>"
            '<uws:parameter id="LANG">ADQL</uws:parameter>'
            f'<uws:parameter id="QUERY">{escape(job["query"])}</uws:parameter>'
            "</uws:parameters>" + results + error + "</uws:job>").encode()

