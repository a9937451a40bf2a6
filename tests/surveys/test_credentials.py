"""The ESO bearer token goes only to the ESO hosts: two real local servers capture what each receives."""

from __future__ import annotations

import pandas as pd
import pytest

from lensfinder.surveys.base import ESO_TOKEN_HOSTS, make_session, token_allowed
from lensfinder.surveys.legacy import LegacySurveyBackend
from lensfinder.surveys.tap import run_tap_query

from helpers.tapserver import TapServer

TOKEN = "s3cr3t-eso-token"


@pytest.fixture()
def servers(monkeypatch):
    """("ESO", "other"): the token belongs to the first one's host:port only."""
    eso, other = TapServer(), TapServer()
    with eso, other:
        for srv in (eso, other):
            srv.files["ADP.X"] = b"FITS bytes"
            srv.tables["ls_dr10.tractor"] = pd.DataFrame({"ls_id": [1], "ra": [10.0], "dec": [0.0]})
        eso.redirects["/to-other"] = f"{other.url}/dataPortal/file/ADP.X"
        other.redirects["/to-eso"] = f"{eso.url}/dataPortal/file/ADP.X"
        monkeypatch.setenv("LENSFINDER_ESO_TOKEN", TOKEN)
        monkeypatch.setenv("LENSFINDER_ESO_TOKEN_HOSTS", eso.url.removeprefix("http://"))
        yield eso, other


def authorizations(server):
    return [(path, headers.get("Authorization")) for _, path, _, headers in server.requests]


def test_token_only_on_requests_to_its_host(servers):
    eso, other = servers
    with make_session(5) as session:
        assert session.get(f"{eso.url}/dataPortal/file/ADP.X").content == b"FITS bytes"
        assert session.get(f"{other.url}/dataPortal/file/ADP.X").content == b"FITS bytes"
        assert "Authorization" not in session.headers  # nothing session-wide
    assert authorizations(eso) == [("/dataPortal/file/ADP.X", f"Bearer {TOKEN}")]
    assert authorizations(other) == [("/dataPortal/file/ADP.X", None)]


def test_redirects_carry_the_token_only_to_its_host(servers):
    eso, other = servers
    with make_session(5) as session:
        assert session.get(f"{eso.url}/to-other").content == b"FITS bytes"  # ESO -> elsewhere: dropped
        assert session.get(f"{other.url}/to-eso").content == b"FITS bytes"  # elsewhere -> ESO: added
    assert authorizations(eso) == [("/to-other", f"Bearer {TOKEN}"), ("/dataPortal/file/ADP.X", f"Bearer {TOKEN}")]
    assert authorizations(other) == [("/dataPortal/file/ADP.X", None), ("/to-eso", None)]


def test_pyvo_queries_elsewhere_and_the_legacy_backend_get_no_token(servers):
    eso, other = servers
    with make_session(5) as session:
        assert len(run_tap_query("SELECT ls_id FROM ls_dr10.tractor", f"{other.url}/tap_dl", maxrec=10,
                                 session=session)) == 1
        assert len(run_tap_query("SELECT ls_id FROM ls_dr10.tractor", f"{eso.url}/tap_cat", maxrec=10,
                                 session=session)) == 1
    assert {auth for _, auth in authorizations(other)} == {None}
    assert {auth for _, auth in authorizations(eso)} == {f"Bearer {TOKEN}"}
    # the Legacy Surveys backend's own session carries no ESO credential at all, even to an ESO host
    with LegacySurveyBackend(timeout_s=5) as backend:
        backend.session.get(f"{eso.url}/dataPortal/file/ADP.X")
    assert authorizations(eso)[-1] == ("/dataPortal/file/ADP.X", None)


def test_token_hosts():
    hosts = frozenset(ESO_TOKEN_HOSTS)
    assert token_allowed("https://archive.eso.org/tap_obs/sync", hosts)
    assert token_allowed("https://dataportal.eso.org/dataPortal/file/ADP.1", hosts)
    assert token_allowed("https://ARCHIVE.eso.org:443/x", hosts)
    assert not token_allowed("http://archive.eso.org/tap_obs/sync", hosts)  # never in clear text
    assert not token_allowed("https://archive.eso.org.example.com/x", hosts)
    assert not token_allowed("https://www.legacysurvey.org/viewer/fits-cutout?u=archive.eso.org", hosts)
    assert not token_allowed("https://datalab.noirlab.edu/tap", hosts)
    assert token_allowed("http://127.0.0.1:8000/x", {"127.0.0.1:8000"})
    assert not token_allowed("http://127.0.0.1:8001/x", {"127.0.0.1:8000"})


def test_the_environment_token_wins_over_a_netrc_entry_for_its_host(servers, tmp_path, monkeypatch):
    """requests adds a ~/.netrc entry's Basic credentials by itself; on the token's host the token replaces them,
    elsewhere (and without the token) the netrc entry is still used."""
    import base64

    eso, other = servers
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login alice password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    basic = "Basic " + base64.b64encode(b"alice:secret").decode()
    with make_session(5) as session:
        session.get(f"{eso.url}/dataPortal/file/ADP.X")
        session.get(f"{other.url}/dataPortal/file/ADP.X")
        session.get(f"{other.url}/to-eso")  # a redirect onto the token's host
    monkeypatch.delenv("LENSFINDER_ESO_TOKEN")
    with make_session(5) as session:
        session.get(f"{eso.url}/dataPortal/file/ADP.X")
    assert [auth for _, auth in authorizations(eso)] == [f"Bearer {TOKEN}", f"Bearer {TOKEN}", basic]
    assert [auth for _, auth in authorizations(other)] == [basic, basic]
