"""The grading page's server, at the HTTP level (no browser): API, blinding, security, limits, locks."""

from __future__ import annotations

import http.client
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lensfinder.inspection import server as grading
from lensfinder.inspection.grades import read_grades, read_notes
from lensfinder.io import InputError, read_cube, write_csv, write_cube, write_table
from lensfinder.plots.stamps import render_stamp_png

EVIL = "<script>alert('x')</script>&\"q\", KiDS"
IDS = ["KiDSDR4 J000000.000-280000.0", EVIL, "obj,with,commas", "plain"]
BIN = Path(sys.executable).parent


def make_set(directory: Path, ids=IDS, *, known: dict | None = None, positions: dict | None = None,
             size: int = 9) -> Path:
    """A tiny inspection set as `lensfinder candidates` writes it: manifest, PNGs, stamps_r.fits, known.parquet.

    ``known`` maps mixed-in ids to is_lens (their display names are then blind);
    ``positions`` maps candidate ids to (tile, ra, dec) in candidates.parquet.
    """
    rng = np.random.default_rng(0)
    stamps = rng.normal(size=(len(ids), size, size)).astype(np.float32)
    stamps[:, size // 2, size // 2] += 50.0 + np.arange(len(ids))  # a bright, distinct centre per object
    pngs = []
    for k, _ in enumerate(ids):
        pngs.append(f"png/s{k}.png")
        render_stamp_png(directory / pngs[-1], stamps[k], upscale=1)
    write_cube(stamps, directory / "stamps_r.fits", 0.2, 30.0)
    known = known or {}
    names = [f"obj-{k + 1:04d}" for k in range(len(ids))] if known else list(ids)
    manifest = pd.DataFrame({"object_id": list(ids), "display_name": names, "png": pngs,
                             "samples": ["" if i in known else "bg_li2020" for i in ids],
                             "p_cnn": [np.nan if i in known else 0.99 for i in ids], "order": np.arange(len(ids)),
                             "stamps_row": np.arange(len(ids)), "stamps_r": "stamps_r.fits"})
    write_table(manifest, directory / "manifest.parquet")
    write_table(pd.DataFrame({"object_id": list(known), "is_lens": list(known.values())}), directory / "known.parquet")
    positions = positions or {}
    write_table(pd.DataFrame({"object_id": list(positions), "tile": [p[0] for p in positions.values()],
                              "ra": [p[1] for p in positions.values()], "dec": [p[2] for p in positions.values()]}),
                directory / "candidates.parquet")
    return directory


def serve(session):
    srv = grading.make_server(session, 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    return srv, thread


def stop(srv, thread):
    srv.shutdown()
    srv.server_close()
    thread.join(5)
    srv.session.close()


@pytest.fixture
def server(tmp_path):
    make_set(tmp_path)
    srv, thread = serve(grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "grades.csv"))
    yield srv
    stop(srv, thread)


def request(srv, method, path, body=None, headers=None, token=True, cookie=True):
    """One request; by default with the page's cookie (every request) and token header (POST), as the page sends."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    data = body if body is None or isinstance(body, bytes) else json.dumps(body)
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    if cookie:
        hdrs["Cookie"] = f"{grading.cookie_name(srv)}={srv.token}"
    if token and method == "POST":
        hdrs[grading.TOKEN_HEADER] = srv.token
    hdrs.update(headers or {})
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), raw


def csv_rows(path: Path) -> list[list[str]]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_static_page_and_state(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and b"/static/app.js" in body
    assert server.token.encode() in body  # the page carries the per-server token
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, _, js = request(server, "GET", "/static/app.js")
    assert status == 200 and b"innerHTML" not in js  # text goes in with textContent only
    status, headers, body = request(server, "GET", "/api/state")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert b"<script>" not in body  # < and > escaped in the JSON
    state = json.loads(body)
    assert [it["name"] for it in state["items"]] == IDS
    assert [k["key"] for k in state["keys"]] == ["a", "b", "c", "d"]
    assert state["n_graded"] == 0 and state["inspector"] == "ann" and state["unblind"] is False
    assert state["items"][1]["bands"] == ["r"]
    status, headers, png = request(server, "GET", state["items"][1]["pngs"][0]["url"])
    assert status == 200 and headers["Content-Type"] == "image/png" and png[:4] == b"\x89PNG"
    assert request(server, "GET", "/png/99")[0] == 404
    assert request(server, "GET", "/png/../manifest.parquet")[0] == 404
    assert request(server, "GET", "/nosuch")[0] == 404


def test_grade_is_on_disk_at_once_undo_and_resume(server, tmp_path):
    grades = tmp_path / "grades.csv"
    status, _, body = request(server, "POST", "/api/grade", {"item": 1, "grade": "a"})
    assert status == 200 and json.loads(body) == {"item": 1, "grade": "A", "n_graded": 1, "feedback": None}
    rows = csv_rows(grades)  # written before the answer came back
    assert rows[0] == ["object_id", "inspector", "grade", "time"]
    assert rows[1][:3] == [IDS[1], "ann", "A"] and rows[1][3].endswith("+00:00")
    request(server, "POST", "/api/grade", {"item": 2, "grade": "D"})
    # a second grade for the same object is refused until undone
    status, _, body = request(server, "POST", "/api/grade", {"item": 2, "grade": "B"})
    assert status == 409 and "undo first" in json.loads(body)["error"]
    status, _, body = request(server, "POST", "/api/undo", {})
    result = json.loads(body)
    assert result["undone"] == {"item": 2, "grade": "D"} and result["n_graded"] == 1
    assert csv_rows(grades)[-1][:3] == [IDS[2], "ann", "UNDO"]
    request(server, "POST", "/api/grade", {"item": 2, "grade": "B"})
    # bad requests
    assert request(server, "POST", "/api/grade", {"item": 0, "grade": "E"})[0] == 409
    for bad in (99, -1, "0", True, None):
        assert request(server, "POST", "/api/grade", {"item": bad, "grade": "A"})[0] == 409
    assert request(server, "POST", "/api/grade", b"{not json")[0] == 400
    assert len(csv_rows(grades)) == 1 + 4
    # the merge step reads the history: undone grade retracted, no duplicate
    effective = read_grades(grades, "li2020", valid_ids=set(IDS))
    assert dict(zip(effective["object_id"], effective["grade"])) == {IDS[1]: "A", IDS[2]: "B"}
    # resume: a new session (a restarted server) skips what ann graded; bob starts afresh
    server.session.close()  # ann's server stops
    again = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    assert again.state()["grades"] == [None, "A", "B", None]
    bob = grading.GradingSession(tmp_path, "bob", "li2020", grades)
    assert bob.state()["n_graded"] == 0
    bob.grade(IDS[1], "C")
    assert read_grades(grades, "li2020").shape[0] == 3
    again.close()
    bob.close()


def test_notes_are_saved_resumed_and_checked(server, tmp_path):
    status, _, body = request(server, "POST", "/api/note", {"item": 3, "flags": ["artefact"], "comment": "a\nstreak"})
    assert status == 200 and json.loads(body) == {"item": 3, "flags": ["artefact"], "comment": "a streak"}
    request(server, "POST", "/api/note", {"item": 0, "flags": ["interesting non-lens", "artefact"], "comment": ""})
    request(server, "POST", "/api/note", {"item": 0, "flags": [], "comment": ""})  # cleared again
    assert request(server, "POST", "/api/note", {"item": 1, "flags": ["nonsense"], "comment": ""})[0] == 409
    assert request(server, "POST", "/api/note", {"item": 1, "flags": [], "comment": "x" * 3000})[0] == 409
    notes = read_notes(tmp_path / "grades.notes.csv")
    assert notes[["object_id", "inspector", "flags", "comment"]].values.tolist() == [[IDS[3], "ann", "artefact",
                                                                                      "a streak"]]
    server.session.close()
    again = grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "grades.csv")
    assert again.state()["notes"] == [None, None, None, {"flags": ["artefact"], "comment": "a streak"}]
    again.close()


def test_pixels_limits_and_fits_stamp(server, tmp_path):
    from astropy.io import fits
    from astropy.visualization import PercentileInterval, ZScaleInterval

    cube, _ = read_cube(tmp_path / "stamps_r.fits")
    status, headers, body = request(server, "GET", "/api/pixels/2/r")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    meta = json.loads(headers["X-Pixels-Meta"])
    pixels = np.frombuffer(body, dtype="<f4").reshape(meta["shape"])
    np.testing.assert_array_equal(pixels, cube[2][::-1])  # rows north first, as drawn
    np.testing.assert_allclose(meta["limits"]["zscale"], ZScaleInterval().get_limits(cube[2]), rtol=1e-6)
    np.testing.assert_allclose(meta["limits"]["p99.5"], PercentileInterval(99.5).get_limits(cube[2]), rtol=1e-6)
    assert meta["limits"]["minmax"] == [float(cube[2].min()), float(cube[2].max())]
    assert request(server, "GET", "/api/pixels/2/g")[0] == 404
    status, headers, body = request(server, "GET", "/fits/2")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    path = tmp_path / "stamp.fits"
    path.write_bytes(body)
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(hdul[0].data, cube[2])
        assert hdul[0].header["BAND"] == "r" and hdul[0].header["PIXSCALE"] == 0.2
    # no wider field without --tile-dir
    assert request(server, "GET", "/api/field/2")[0] == 404


def test_fits_stamp_of_a_non_ascii_id(tmp_path):
    # OBJECT was set to the id as it is: astropy refuses non-ASCII header values, and GET /fits/0 gave 500
    from astropy.io import fits

    make_set(tmp_path, ids=["Abell 2218 arc \u00e9", "Q2237+030 H\u00f6lzl \u2605", "plain"])
    srv, thread = serve(grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "grades.csv"))
    try:
        objects = []
        for k in range(3):
            status, headers, body = request(srv, "GET", f"/fits/{k}")
            assert status == 200, body
            with fits.open(io.BytesIO(body)) as hdul:
                objects.append(hdul[0].header["OBJECT"])
            assert headers["Content-Disposition"].isascii()
    finally:
        stop(srv, thread)
    assert objects == ["Abell 2218 arc e", "Q2237+030 Holzl ?", "plain"]


def test_blind_mode_hides_ids_scores_and_context(tmp_path):
    ids = ["KiDSDR4 J1", "sim-lens-1", "KiDSDR4 J2", "sim-non-1"]
    make_set(tmp_path, ids, known={"sim-lens-1": True, "sim-non-1": False},
             positions={"KiDSDR4 J1": ("T", 10.0, -1.0), "KiDSDR4 J2": ("T", 10.1, -1.1)})
    srv, thread = serve(grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv", survey="legacy_dr10"))
    try:
        body = request(srv, "GET", "/api/state")[2] + b"".join(request(srv, "GET", f"/api/item/{k}")[2]
                                                                 for k in range(4))
        for secret in (b"KiDSDR4", b"sim-", b"0.99", b"legacysurvey", b"10.1"):
            assert secret not in body, secret
        status, headers, fits_body = request(srv, "GET", "/fits/1")
        assert b"sim-" not in fits_body and b"OBJRA" not in fits_body and "obj-0002" in headers["Content-Disposition"]
    finally:
        stop(srv, thread)
    session = grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv", unblind=True,
                                     survey="legacy_dr10")
    bob = grading.GradingSession(tmp_path, "bob", "li2020", tmp_path / "g.csv")
    bob.grade("KiDSDR4 J2", "B")
    bob.note("KiDSDR4 J2", ["artefact"], "ghost")
    details = session.details(2)
    assert details["object_id"] == "KiDSDR4 J2" and details["p_cnn"] == 0.99 and details["simulated"] is False
    assert details["others"] == [{"inspector": "bob", "grade": "B", "flags": "artefact", "comment": "ghost"}]
    assert details["viewers"][0]["url"] == ("https://www.legacysurvey.org/viewer?ra=10.100000&dec=-1.100000"
                                            "&layer=ls-dr10&zoom=16")
    assert session.details(1)["is_lens"] is True and session.details(1)["p_cnn"] is None
    session.close()
    bob.close()


def test_feedback_on_mixed_in_simulations(tmp_path):
    ids = ["cand", "sim-lens", "sim-non"]
    make_set(tmp_path, ids, known={"sim-lens": True, "sim-non": False})
    session = grading.GradingSession(tmp_path, "ann", "he2020", tmp_path / "g.csv", feedback=True)
    assert session.grade("cand", "2")["feedback"] is None
    assert "missed a simulated lens" in session.grade("sim-lens", "0")["feedback"]
    with pytest.raises(InputError, match="stands: feedback"):
        session.undo()
    assert "simulated non-lens" in session.grade("sim-non", "0")["feedback"]
    session.close()
    plain = make_set(tmp_path / "plain", ["a", "b"])
    with pytest.raises(InputError, match="--feedback"):
        grading.GradingSession(plain, "ann", "he2020", plain / "g.csv", feedback=True)


def test_wider_field_comes_from_the_tile(tmp_path):
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [200.0, 200.0]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    tile = np.zeros((400, 400), np.float32)
    tile[260, 150] = 1000.0  # a star at (x=150, y=260), 0-based
    (tmp_path / "tiles").mkdir()
    fits.PrimaryHDU(tile, header=wcs.to_header()).writeto(tmp_path / "tiles" / "T1.fits")
    ra, dec = wcs.pixel_to_world_values(150, 260)
    make_set(tmp_path / "set", ["star", "other"], positions={"star": ("T1", float(ra), float(dec))})
    session = grading.GradingSession(tmp_path / "set", "ann", "li2020", tmp_path / "g.csv", tile_dir=tmp_path / "tiles",
                                     field_arcsec=20.0)
    assert [it["field"] for it in session.state()["items"]] == [True, False]
    image, meta = session.field(0)
    assert image.shape == (101, 101) and meta["shape"] == [101, 101]
    assert np.unravel_index(np.nanargmax(image), image.shape) == (50, 50)  # the object on the central pixel
    assert meta["box"] == pytest.approx(9.0)  # the 9 px stamp at 0.2"/px in a 0.2"/px field
    with pytest.raises(InputError, match="no wider field"):
        session.field(1)
    session.close()
    with pytest.raises(InputError, match="--tile-dir"):
        grading.GradingSession(tmp_path / "set", "ann", "li2020", tmp_path / "g.csv", tile_dir=tmp_path / "no")


def test_refuses_foreign_host_origin_and_missing_token(server, tmp_path):
    assert request(server, "GET", "/api/state", headers={"Host": "evil.example:80"})[0] == 403
    grade = {"item": 0, "grade": "A"}
    assert request(server, "POST", "/api/grade", grade, {"Origin": "http://evil.example"})[0] == 403
    port = server.server_address[1]
    assert request(server, "POST", "/api/grade", grade, {"Origin": f"http://localhost:{port + 1}"})[0] == 403
    # a sandboxed page: Origin null and a "simple" content type, which needs no CORS preflight
    status, _, _ = request(server, "POST", "/api/undo", b"{}", {"Origin": "null", "Content-Type": "text/plain"})
    assert status in (403, 415)
    assert request(server, "POST", "/api/undo", b"{}", {"Content-Type": "text/plain"})[0] == 415
    assert request(server, "POST", "/api/grade", grade, token=False)[0] == 403
    assert request(server, "POST", "/api/grade", grade, token=False, cookie=False)[0] == 403
    assert request(server, "POST", "/api/grade", grade, {grading.TOKEN_HEADER: "guess"})[0] == 403
    assert not (tmp_path / "grades.csv").exists()  # nothing got through
    assert request(server, "POST", "/api/grade", grade, {"Origin": f"http://127.0.0.1:{port}"})[0] == 200
    assert request(server, "GET", "/", headers={"Host": f"localhost:{port}"})[0] == 200


def _raw_post(srv, headers: str, body: bytes, encoding: str = "utf-8") -> tuple[int, bytes]:
    """Send a POST over a raw socket (the body may be shorter than announced); return status and response.
    HTTP header bytes read as Latin-1: ``encoding="latin-1"`` sends a header's characters as they are."""
    with socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=10) as sock:
        sock.sendall(f"POST /api/grade HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"{grading.TOKEN_HEADER}: {srv.token}\r\n{headers}\r\n".encode(encoding) + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and len(data) > data.index(b"\r\n\r\n") + 4:
                break
    return int(data.split(b" ", 2)[1]), data


def test_body_limits_never_echo_and_never_drop(server):
    # a huge announced body is refused before it is read
    status, data = _raw_post(server, "Content-Length: 50000000\r\n", b"A" * 65536)
    assert status == 413 and len(data) < 2000
    # deep nesting is a 400, not a dropped connection with a traceback
    status, _, body = request(server, "POST", "/api/grade", b"[" * 60000)
    assert status == 400 and len(body) < 200
    # a long id inside the limit is not echoed back
    long_id = "X" * 60000
    status, _, body = request(server, "POST", "/api/grade", {"item": long_id, "grade": "A"})
    assert status == 409 and len(body) < 500
    status, _, body = request(server, "POST", "/api/grade", {"item": 0, "grade": long_id})
    assert status == 409 and len(body) < 500
    assert _raw_post(server, "Content-Length: -5\r\n", b"")[0] == 400
    assert _raw_post(server, "Content-Length: \u00b2\r\n", b"", encoding="latin-1")[0] == 400  # "²".isdigit()
    # a comment with a lone surrogate is refused, not a 500
    status, _, body = request(server, "POST", "/api/note", b'{"item": 0, "flags": [], "comment": "x\\ud800"}')
    assert status == 409 and "lone surrogate" in json.loads(body)["error"]
    # the server still answers
    assert request(server, "GET", "/api/state")[0] == 200


def test_one_server_per_inspector_and_one_header(tmp_path):
    make_set(tmp_path)
    grades = tmp_path / "grades.csv"
    ann = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    with pytest.raises(InputError, match=r"grades\.csv: inspector 'ann' is already being graded .*pid \d+"):
        grading.GradingSession(tmp_path, "ann", "li2020", grades)
    ann.close()
    # two inspectors' first grades at the same moment: one header, every row readable
    for attempt in range(25):
        path = tmp_path / f"race{attempt}.csv"
        sessions = [grading.GradingSession(tmp_path, name, "li2020", path) for name in ("ann", "bob", "cy")]
        barrier = threading.Barrier(len(sessions))

        def first_grade(session):
            barrier.wait()
            session.grade(IDS[0], "A")

        threads = [threading.Thread(target=first_grade, args=(s,)) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        for s in sessions:
            s.close()
        rows = csv_rows(path)
        assert [r[0] for r in rows].count("object_id") == 1, rows
        assert sorted(read_grades(path, "li2020")["inspector"]) == ["ann", "bob", "cy"]


def test_second_grade_server_for_one_inspector_is_refused(tmp_path):
    make_set(tmp_path)
    cmd = [str(BIN / "lensfinder"), "grade", "--inspection-set", str(tmp_path), "--inspector", "ann",
           "--grades", str(tmp_path / "g.csv")]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as first:
        try:
            deadline = time.monotonic() + 60
            for line in first.stdout:  # wait until it serves
                if "open http://" in line or time.monotonic() > deadline:
                    break
            second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            assert second.returncode == 2
            assert f"{tmp_path / 'g.csv'}: inspector 'ann' is already being graded" in second.stderr
            assert f"pid {first.pid}" in second.stderr
        finally:
            first.terminate()
            first.wait(10)


def test_he2020_keys_and_bad_sets(tmp_path):
    make_set(tmp_path)
    session = grading.GradingSession(tmp_path, "ann", "he2020", tmp_path / "g.csv")
    assert [k["key"] for k in session.state()["keys"]] == ["2", "1", "0"]
    session.grade(IDS[0], "2")
    with pytest.raises(InputError, match="not in the he2020 scheme"):
        session.grade(IDS[1], "A")
    session.close()
    with pytest.raises(InputError, match="--inspector"):
        grading.GradingSession(tmp_path, " ", "li2020", tmp_path / "g.csv")
    bad = tmp_path / "bad"
    make_set(bad, ids=["a"])
    write_table(pd.DataFrame({"object_id": ["a"], "png": ["../../secret.png"]}), bad / "manifest.parquet")
    with pytest.raises(InputError, match="outside the set directory"):
        grading.GradingSession(bad, "ann", "li2020", bad / "g.csv")
    with pytest.raises(InputError, match="no manifest"):
        grading.GradingSession(tmp_path / "png", "ann", "li2020", tmp_path / "g.csv")


def test_old_manifest_without_stamp_cube_still_serves_pngs(tmp_path):
    make_set(tmp_path)
    old = pd.read_parquet(tmp_path / "manifest.parquet").drop(columns=["stamps_row", "stamps_r"])
    write_table(old, tmp_path / "manifest.parquet")
    srv, thread = serve(grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv"))
    try:
        state = json.loads(request(srv, "GET", "/api/state")[2])
        assert state["items"][0]["bands"] == [] and state["items"][0]["pngs"][0]["url"] == "/png/0/png"
        assert request(srv, "GET", "/png/0")[0] == 200  # the old URL too
        assert request(srv, "GET", "/fits/0")[0] == 404
    finally:
        stop(srv, thread)


def test_empty_set(tmp_path):
    write_table(pd.DataFrame({"object_id": pd.Series([], dtype=str), "png": pd.Series([], dtype=str)}),
                tmp_path / "manifest.parquet")
    session = grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv")
    assert session.state()["items"] == [] and session.undo()["undone"] is None
    assert not (tmp_path / "g.csv").exists()
    session.close()


def test_candidates_write_the_sets_stamp_cube(tmp_path):
    from lensfinder.inspection.export import export_inspection_set

    rng = np.random.default_rng(1)
    cube = rng.normal(size=(5, 11, 11)).astype(np.float32)
    write_cube(cube, tmp_path / "c.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": [f"o{k}" for k in range(5)], "bg_li2020": True}), tmp_path / "i.parquet")
    write_table(pd.DataFrame({"object_id": [f"o{k}" for k in range(5)], "p_cnn": [0.1, 0.99, 0.5, 0.995, 0.999]}),
                tmp_path / "p.parquet")
    manifest = export_inspection_set([tmp_path / "p.parquet"], [tmp_path / "i.parquet"], [tmp_path / "c.fits"],
                                     tmp_path / "set", {"bg_li2020": 0.98})
    stamps, header = read_cube(tmp_path / "set" / "stamps_r.fits")
    assert manifest["object_id"].tolist() == ["o4", "o3", "o1"] and header["PIXSCALE"] == 0.2
    np.testing.assert_array_equal(stamps[manifest["stamps_row"]], cube[[4, 3, 1]])


def test_cli_arguments():
    import argparse

    from lensfinder.cli.inspection import add_grade_arguments

    parser = argparse.ArgumentParser()
    add_grade_arguments(parser)
    args = parser.parse_args(["--inspection-set", "d", "--inspector", "ann"])
    assert (args.set_dir, args.inspector, args.scheme, args.port, args.grades) == ("d", "ann", "li2020", 0, None)
    assert (args.unblind, args.feedback, args.tile_dir, args.survey, args.flag) == (False, False, None, None, None)
    # the old spelling stays an alias
    assert parser.parse_args(["--set", "d", "--inspector", "ann"]).set_dir == "d"


def test_a_csv_manifest_with_mixed_in_simulations_serves_their_empty_scores(tmp_path):
    # the CSV fallback keeps empty cells as text: the simulations' empty p_cnn is no score, not an error
    make_set(tmp_path, ["cand", "sim-lens"], known={"sim-lens": True})
    manifest = pd.read_parquet(tmp_path / "manifest.parquet")
    (tmp_path / "manifest.parquet").unlink()
    write_csv(manifest, tmp_path / "manifest.csv")
    session = grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv")
    scores = {item["object_id"]: item["p_cnn"] for item in session.items}
    session.close()
    assert scores["cand"] == pytest.approx(0.99) and np.isnan(scores["sim-lens"])
    manifest = manifest.astype({"p_cnn": object})
    manifest.loc[0, "p_cnn"] = "high"
    write_csv(manifest, tmp_path / "manifest.csv")
    with pytest.raises(InputError, match=r"manifest\.csv: p_cnn: 'high' for 'cand' is not a number"):
        grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv")


def test_grades_go_under_a_hand_made_files_header(tmp_path):
    # a grades CSV begun by hand: its own column order, no time, no newline after the last line
    make_set(tmp_path)
    grades = tmp_path / "g.csv"
    grades.write_text(f"grade,object_id,inspector\nB,{IDS[3]},bob")
    session = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    session.grade(IDS[0], "A")
    session.close()
    assert csv_rows(grades) == [["grade", "object_id", "inspector"], ["B", IDS[3], "bob"], ["A", IDS[0], "ann"]]
    assert sorted(read_grades(grades, "li2020")["grade"]) == ["A", "B"]
    # a spreadsheet's UTF-8 byte-order mark before the header
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffobject_id,inspector,grade\r\n".encode())
    session = grading.GradingSession(tmp_path, "ann", "li2020", bom)
    session.grade(IDS[1], "C")
    session.close()
    assert csv_rows(bom)[1] == [IDS[1], "ann", "C"] and len(read_grades(bom, "li2020")) == 1
    # a file whose header lost a column the row needs (edited while the server ran): refused, naming them
    from lensfinder.inspection.gradelog import GradeLog

    grades.write_text("object_id,grade\n")
    with GradeLog(grades, "dan") as log:
        with pytest.raises(InputError, match=r"g\.csv: header object_id,grade lacks inspector"):
            log.append(grades, ["object_id", "inspector", "grade", "time"], [IDS[0], "dan", "A", "now"])
    assert grades.read_text() == "object_id,grade\n"


def test_a_failed_write_leaves_no_half_row(tmp_path, monkeypatch):
    """A disk that fills during an append: the page hears "NOT saved" and the file is as it was, so the
    retried grade, a restart and merge-scores all read it (a half row used to be completed by the next one)."""
    import errno

    from lensfinder.inspection import gradelog

    make_set(tmp_path)
    grades = tmp_path / "grades.csv"
    session = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    session.grade(IDS[0], "A")
    before = grades.read_bytes()
    real_write = gradelog.os.write

    def disk_fills(fd, data):
        real_write(fd, bytes(data[:7]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gradelog.os, "write", disk_fills)
    with pytest.raises(OSError, match="No space"):
        session.grade(IDS[1], "D")
    monkeypatch.setattr(gradelog.os, "write", real_write)
    assert grades.read_bytes() == before
    session.grade(IDS[1], "C")
    session.close()
    again = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    assert again.state()["grades"][:2] == ["A", "C"]
    again.close()
    assert read_grades(grades, "li2020")["grade"].tolist() == ["A", "C"]


def test_resume_leaves_other_sets_grades_aside_and_keeps_ids_as_written(tmp_path):
    """A grades file shared with another set: this set's page shows and undoes only its own grades. An id
    that ends in a space is read back as written."""
    ids = ["obj1 ", "obj2"]
    make_set(tmp_path, ids)
    grades = tmp_path / "grades.csv"
    grades.write_text("object_id,inspector,grade,time\r\nobj1 ,ann,B,t\r\nother-set-9,ann,A,t\r\n")
    session = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    assert session.state()["grades"] == ["B", None]
    with pytest.raises(InputError, match="stands: it was given before this server started"):
        session.undo()  # a grade of an earlier session stands, for every object
    session.grade("obj2", "C")
    assert session.undo()["undone"] == {"object_id": "obj2", "grade": "C"}  # not the other set's grade
    session.grade("obj2", "D")
    session.close()
    again = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    assert again.state()["grades"] == ["B", "D"]
    again.close()
    effective = read_grades(grades, "li2020", valid_ids={"obj1 ", "obj2", "other-set-9"})
    assert dict(zip(effective["object_id"], effective["grade"])) == {"obj1 ": "B", "obj2": "D", "other-set-9": "A"}


def test_a_simulations_grade_stands_after_a_restart_without_feedback(tmp_path):
    ids = ["cand", "sim-lens"]
    make_set(tmp_path, ids, known={"sim-lens": True})
    session = grading.GradingSession(tmp_path, "ann", "he2020", tmp_path / "g.csv", feedback=True)
    session.grade("cand", "1")
    assert "missed a simulated lens" in session.grade("sim-lens", "0")["feedback"]
    session.close()
    plain = grading.GradingSession(tmp_path, "ann", "he2020", tmp_path / "g.csv")
    with pytest.raises(InputError, match="stands: it was given before this server started"):
        plain.undo()
    plain.close()
