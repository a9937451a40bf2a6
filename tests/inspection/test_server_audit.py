"""The grading server's defects found by audit 28: blind leaks, the secret on every request, bad input."""

from __future__ import annotations

import json
import socket

import numpy as np
import pandas as pd
import pytest
from inspection.test_server import IDS, make_set, request, serve, stop

from lensfinder.cli import main
from lensfinder.inspection import server as grading
from lensfinder.io import InputError, write_table


@pytest.fixture
def blind_set(tmp_path):
    """A blind set with one candidate and one mixed-in simulated lens (shown as obj-0002)."""
    return make_set(tmp_path, ["cand-1", "sim-secret-id"], known={"sim-secret-id": True})


def test_blind_already_graded_message_names_the_display_name(blind_set):
    srv, thread = serve(grading.GradingSession(blind_set, "ann", "li2020", blind_set / "g.csv"))
    try:
        assert request(srv, "POST", "/api/grade", {"item": 1, "grade": "A"})[0] == 200
        status, _, body = request(srv, "POST", "/api/grade", {"item": 1, "grade": "B"})
        assert status == 409
        assert "obj-0002 is already graded" in json.loads(body)["error"]
        assert b"sim-secret-id" not in body
    finally:
        stop(srv, thread)


@pytest.mark.parametrize("last", ["cand-1", "sim-secret-id"])
def test_after_a_restart_every_objects_grade_stands_alike(blind_set, last):
    """Blind, no feedback: the undo of an earlier session's grade is refused alike for a candidate and a
    simulation, so the refusal tells nothing."""
    first = grading.GradingSession(blind_set, "ann", "li2020", blind_set / "g.csv")
    for oid in sorted(["cand-1", "sim-secret-id"], key=lambda o: o == last):
        first.grade(oid, "B")
    first.close()
    again = grading.GradingSession(blind_set, "ann", "li2020", blind_set / "g.csv")
    try:
        name = again.items[again.index_of(last)]["name"]
        with pytest.raises(InputError, match=f"the grade B of {name} stands: it was given before this server "
                                             r"started \(grades of earlier sessions cannot be undone here\)$"):
            again.undo()
        # a grade of this session is still undone
        again.close()
        again = grading.GradingSession(blind_set, "ann", "li2020", blind_set / "g2.csv")
        again.grade(last, "C")
        assert again.undo()["undone"] == {"object_id": last, "grade": "C"}
    finally:
        again.close()


def test_every_request_needs_the_secret(tmp_path):
    make_set(tmp_path)
    srv, thread = serve(grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv"))
    try:
        token, port = srv.token, srv.server_address[1]
        # another local user who knows the port: nothing, and the token is not in the answer
        for path in ("/", "/?token=guess", "/static/app.js", "/api/state", "/api/item/0", "/png/0",
                     "/api/pixels/0/r", "/fits/0", "/api/field/0"):
            status, headers, body = request(srv, "GET", path, cookie=False)
            assert status == 403, path
            assert token.encode() not in body and "Set-Cookie" not in headers
        assert request(srv, "GET", "/", cookie=False, headers={"Cookie": f"{grading.cookie_name(srv)}=guess"})[0] == 403
        assert request(srv, "GET", "/", cookie=False, headers={"Cookie": f"lensfinder-token-{port + 1}={token}"})[0] \
            == 403
        assert request(srv, "POST", "/api/grade", {"item": 0, "grade": "A"}, token=False, cookie=False)[0] == 403
        assert not (tmp_path / "g.csv").exists()
        # the printed URL: the page, and a cookie for every later request
        assert grading.page_url(srv) == f"http://127.0.0.1:{port}/?token={token}"
        status, headers, body = request(srv, "GET", f"/?token={token}", cookie=False)
        assert status == 200 and b"/static/app.js" in body
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"{grading.cookie_name(srv)}={token};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        for path in ("/static/app.js", "/api/state", "/api/item/0", "/png/0", "/api/pixels/0/r", "/fits/0"):
            assert request(srv, "GET", path, cookie=False, headers=jar)[0] == 200, path
        # the Host, Origin and content-type checks still hold with the secret
        assert request(srv, "GET", "/api/state", headers={"Host": "evil.example"})[0] == 403
        assert request(srv, "POST", "/api/undo", {}, headers={"Origin": "http://evil.example"})[0] == 403
        assert request(srv, "POST", "/api/undo", b"{}", headers={"Content-Type": "text/plain"})[0] == 415
    finally:
        stop(srv, thread)


def test_the_cli_logs_the_url_with_the_token(tmp_path, monkeypatch, caplog):
    make_set(tmp_path)
    started = {}

    def serve_once(self):
        started["url"] = grading.page_url(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(grading.ThreadingHTTPServer, "serve_forever", serve_once)
    with caplog.at_level("INFO", logger="lensfinder.inspection.server"):
        assert main(["grade", "--inspection-set", str(tmp_path), "--inspector", "ann",
                     "--grades", str(tmp_path / "g.csv")]) == 0
    assert "?token=" in started["url"] and f"open {started['url']} in a browser" in caplog.text


def test_resume_reads_a_hand_edited_id_as_merge_scores_does(tmp_path):
    make_set(tmp_path, ["o1", "o2"])
    grades = tmp_path / "g.csv"
    grades.write_text("object_id,inspector,grade,time\no1 ,ann,B,t\n")
    session = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    try:
        assert session.state()["grades"] == ["B", None] and session.n_graded() == 1
        with pytest.raises(InputError, match="already graded"):
            session.grade("o1", "A")  # no second grade that merge-scores would count twice
    finally:
        session.close()


def test_an_inspector_name_not_in_utf8_is_refused(tmp_path, capsys):
    make_set(tmp_path)
    with pytest.raises(InputError, match="--inspector: .*not valid UTF-8"):
        grading.GradingSession(tmp_path, "ann\udce9", "li2020", tmp_path / "g.csv")
    assert main(["grade", "--inspection-set", str(tmp_path), "--inspector", "ann\udce9",
                 "--grades", str(tmp_path / "g.csv")]) == 2
    assert "--inspector" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_outside_0_65535_is_refused(tmp_path, port, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["grade", "--inspection-set", str(tmp_path), "--inspector", "ann", "--port", port])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--port" in err and "expected a port number 0-65535" in err and "Traceback" not in err


def test_a_port_in_use_is_an_error_naming_it(tmp_path, capsys):
    make_set(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["grade", "--inspection-set", str(tmp_path), "--inspector", "ann", "--port", str(port),
                     "--grades", str(tmp_path / "g.csv")]) == 2
    err = capsys.readouterr().err
    assert f"--port {port}: cannot serve on 127.0.0.1:{port}" in err and "Traceback" not in err


def _short_post(srv, *, close_early: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=10) as sock:
        sock.sendall(f"POST /api/grade HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"{grading.TOKEN_HEADER}: {srv.token}\r\nContent-Length: 100\r\n\r\n{{}}".encode())
        if close_early:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_body_shorter_than_announced_is_a_client_error(tmp_path, monkeypatch):
    monkeypatch.setattr(grading._Handler, "timeout", 0.5)
    make_set(tmp_path)
    srv, thread = serve(grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv"))
    try:
        waited = _short_post(srv, close_early=False)
        assert waited.startswith(b"HTTP/1.1 408") and b"shorter than its Content-Length" in waited
        closed = _short_post(srv, close_early=True)
        assert closed.startswith(b"HTTP/1.1 400") and b"shorter than its Content-Length" in closed
        assert request(srv, "GET", "/api/state")[0] == 200  # still serving
        assert not (tmp_path / "g.csv").exists()
    finally:
        stop(srv, thread)


@pytest.mark.parametrize("rows, expected", [
    ([-1, 1, 2, 3], r"stamps_row: -1 on manifest row 1: expected a row of the stamp cube"),
    ([0, 1, 1, 3], r"stamps_row: row 1 is given to manifest rows \[2, 3\]"),
    ([0, 1, 2, 7], r"stamps_row: row 7 is beyond the 4 stamps of .*stamps_r\.fits"),
])
def test_bad_stamps_rows_are_refused_when_the_session_starts(tmp_path, rows, expected):
    make_set(tmp_path)
    manifest = pd.read_parquet(tmp_path / "manifest.parquet")
    manifest["stamps_row"] = np.array(rows, dtype=np.int64)
    write_table(manifest, tmp_path / "manifest.parquet")
    with pytest.raises(InputError, match=r"manifest\.parquet: " + expected):
        grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv")


@pytest.mark.parametrize("tile", ["../outside/secret", "/etc/secret", "sub\\secret", ".."])
def test_a_tile_name_with_a_path_is_refused(tmp_path, tile):
    make_set(tmp_path / "set", positions={IDS[0]: (tile, 10.0, -5.0)})
    (tmp_path / "tiles").mkdir()
    with pytest.raises(InputError, match=r"candidates\.parquet: tile: .* expected a plain tile name"):
        grading.GradingSession(tmp_path / "set", "ann", "li2020", tmp_path / "g.csv", tile_dir=tmp_path / "tiles")


def test_a_missing_tile_is_named_without_its_path(tmp_path):
    make_set(tmp_path / "set", positions={IDS[0]: ("KIDS_10.0_-5.0", 10.0, -5.0)})
    (tmp_path / "tiles").mkdir()
    srv, thread = serve(grading.GradingSession(tmp_path / "set", "ann", "li2020", tmp_path / "g.csv",
                                               tile_dir=tmp_path / "tiles"))
    try:
        status, _, body = request(srv, "GET", "/api/field/0")
        assert status == 404 and "KIDS_10.0_-5.0" in json.loads(body)["error"]
        assert str(tmp_path).encode() not in body
    finally:
        stop(srv, thread)
