"""The grading page's server, at the HTTP level (no browser)."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lensfinder.inspection import server as grading
from lensfinder.plots.stamps import render_stamp_png
from lensfinder.io import InputError, write_table
from lensfinder.inspection.grades import read_grades

EVIL = "<script>alert('x')</script>&\"q\", KiDS"
IDS = ["KiDSDR4 J000000.000-280000.0", EVIL, "obj,with,commas", "plain"]


def make_set(directory: Path, ids=IDS) -> Path:
    """A tiny inspection set: manifest + one PNG per object."""
    rng = np.random.default_rng(0)
    pngs = []
    for k, _ in enumerate(ids):
        png = f"png/s{k}.png"
        render_stamp_png(directory / png, rng.normal(size=(9, 9)), upscale=1)
        pngs.append(png)
    manifest = pd.DataFrame({"object_id": list(ids), "display_name": list(ids), "png": pngs, "samples": "bg_li2020",
                             "p_cnn": 0.99, "order": np.arange(len(ids))})
    write_table(manifest, directory / "manifest.parquet")
    return directory


@pytest.fixture
def server(tmp_path):
    make_set(tmp_path)
    session = grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "grades.csv")
    srv = grading.make_server(session, 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def request(srv, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    data = body if body is None or isinstance(body, bytes) else json.dumps(body)
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
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
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, _, js = request(server, "GET", "/static/app.js")
    assert status == 200 and b"innerHTML" not in js  # text goes in with textContent only
    status, headers, body = request(server, "GET", "/api/state")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert b"<script>" not in body  # < and > escaped in the JSON
    state = json.loads(body)
    assert [it["object_id"] for it in state["items"]] == IDS
    assert [k["key"] for k in state["keys"]] == ["a", "b", "c", "d"]
    assert state["n_graded"] == 0 and state["inspector"] == "ann"
    status, headers, png = request(server, "GET", state["items"][1]["png"])
    assert status == 200 and headers["Content-Type"] == "image/png" and png[:4] == b"\x89PNG"
    assert request(server, "GET", "/png/99")[0] == 404
    assert request(server, "GET", "/png/../manifest.parquet")[0] == 404
    assert request(server, "GET", "/nosuch")[0] == 404


def test_grade_is_on_disk_at_once_undo_and_resume(server, tmp_path):
    grades = tmp_path / "grades.csv"
    status, _, body = request(server, "POST", "/api/grade", {"object_id": IDS[1], "grade": "a"})
    assert status == 200 and json.loads(body)["n_graded"] == 1
    rows = csv_rows(grades)  # written before the answer came back
    assert rows[0] == ["object_id", "inspector", "grade", "time"]
    assert rows[1][:3] == [IDS[1], "ann", "A"] and rows[1][3].endswith("+00:00")
    request(server, "POST", "/api/grade", {"object_id": IDS[2], "grade": "D"})
    # a second grade for the same object is refused until undone
    status, _, body = request(server, "POST", "/api/grade", {"object_id": IDS[2], "grade": "B"})
    assert status == 409 and "undo first" in json.loads(body)["error"]
    status, _, body = request(server, "POST", "/api/undo", {})
    state = json.loads(body)
    assert state["undone"] == {"object_id": IDS[2], "grade": "D"} and state["n_graded"] == 1
    assert csv_rows(grades)[-1][:3] == [IDS[2], "ann", "UNDO"]
    request(server, "POST", "/api/grade", {"object_id": IDS[2], "grade": "B"})
    # bad requests
    assert request(server, "POST", "/api/grade", {"object_id": IDS[0], "grade": "E"})[0] == 409
    assert request(server, "POST", "/api/grade", {"object_id": "nope", "grade": "A"})[0] == 409
    assert request(server, "POST", "/api/grade", b"{not json")[0] == 400
    assert len(csv_rows(grades)) == 1 + 4
    # the merge step reads the history: undone grade retracted, no duplicate
    effective = read_grades(grades, "li2020", valid_ids=set(IDS))
    assert dict(zip(effective["object_id"], effective["grade"])) == {IDS[1]: "A", IDS[2]: "B"}
    # resume: a new session (a restarted server) skips what ann graded; bob starts afresh
    again = grading.GradingSession(tmp_path, "ann", "li2020", grades)
    assert again.state()["grades"] == {IDS[1]: "A", IDS[2]: "B"}
    bob = grading.GradingSession(tmp_path, "bob", "li2020", grades)
    assert bob.state()["n_graded"] == 0
    bob.grade(IDS[1], "C")
    assert read_grades(grades, "li2020").shape[0] == 3


def test_refuses_foreign_host_and_origin(server):
    assert request(server, "GET", "/api/state", headers={"Host": "evil.example:80"})[0] == 403
    status, _, _ = request(server, "POST", "/api/grade", {"object_id": IDS[0], "grade": "A"},
                           {"Origin": "http://evil.example"})
    assert status == 403
    assert request(server, "GET", "/", headers={"Host": f"localhost:{server.server_address[1]}"})[0] == 200


def test_refuses_non_local_client():
    handler = grading._Handler.__new__(grading._Handler)
    handler.headers = {"Host": "127.0.0.1:8000"}
    handler.client_address = ("192.168.1.20", 5555)
    assert not handler._allowed()
    handler.client_address = ("127.0.0.1", 5555)
    assert handler._allowed()


def test_server_binds_loopback_only(tmp_path):
    make_set(tmp_path)
    srv = grading.make_server(grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv"), 0)
    try:
        assert srv.server_address[0] == "127.0.0.1"
    finally:
        srv.server_close()


def test_he2020_keys_and_bad_sets(tmp_path):
    make_set(tmp_path)
    session = grading.GradingSession(tmp_path, "ann", "he2020", tmp_path / "g.csv")
    assert [k["key"] for k in session.state()["keys"]] == ["2", "1", "0"]
    session.grade(IDS[0], "2")
    with pytest.raises(InputError, match="not in the he2020 scheme"):
        session.grade(IDS[1], "A")
    with pytest.raises(InputError, match="--inspector"):
        grading.GradingSession(tmp_path, " ", "li2020", tmp_path / "g.csv")
    bad = tmp_path / "bad"
    make_set(bad, ids=["a"])
    write_table(pd.DataFrame({"object_id": ["a"], "png": ["../../secret.png"]}), bad / "manifest.parquet")
    with pytest.raises(InputError, match="outside the set directory"):
        grading.GradingSession(bad, "ann", "li2020", bad / "g.csv")
    with pytest.raises(InputError, match="no manifest"):
        grading.GradingSession(tmp_path / "png", "ann", "li2020", tmp_path / "g.csv")


def test_empty_set(tmp_path):
    write_table(pd.DataFrame({"object_id": pd.Series([], dtype=str), "png": pd.Series([], dtype=str)}),
                tmp_path / "manifest.parquet")
    session = grading.GradingSession(tmp_path, "ann", "li2020", tmp_path / "g.csv")
    assert session.state()["items"] == [] and session.undo()["undone"] is None
    assert not (tmp_path / "g.csv").exists()


def test_cli_arguments():
    import argparse

    from lensfinder.cli.inspection import add_grade_arguments

    parser = argparse.ArgumentParser()
    add_grade_arguments(parser)
    args = parser.parse_args(["--inspection-set", "d", "--inspector", "ann"])
    assert (args.set_dir, args.inspector, args.scheme, args.port, args.grades) == ("d", "ann", "li2020", 0, None)
    # the old spelling stays an alias
    assert parser.parse_args(["--set", "d", "--inspector", "ann"]).set_dir == "d"
