"""Legacy Surveys cutout backend against the local HTTP server (tests/tapserver.py)."""

from __future__ import annotations

import gc
import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from lensfinder.io import InputError
from lensfinder.surveys.base import DownloadError, SurveyBackend
from lensfinder.surveys.legacy import LEGACY_ZEROPOINT_MAG, LegacySurveyBackend, cutout_params, fetch_cutout

from tapserver import TapServer


def legacy_fits(params: dict, cube: bool = True) -> bytes:
    """Shaped like the viewer's answer: nanomaggies, TAN WCS, a band axis for a cube."""
    size = int(params["size"])
    scale = float(params["pixscale"]) / 3600
    wcs = WCS(naxis=3 if cube else 2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"] + (["BAND"] if cube else [])
    wcs.wcs.crval = [float(params["ra"]), float(params["dec"])] + ([0] if cube else [])
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5] + ([1] if cube else [])
    wcs.wcs.cdelt = [-scale, scale] + ([1] if cube else [])
    data = np.full((size, size), 0.5, dtype=np.float32)
    data[size // 2, size // 2] = 10.0
    data[0, 0] = np.nan
    buf = io.BytesIO()
    fits.PrimaryHDU(data[None] if cube else data, header=wcs.to_header()).writeto(buf)
    return buf.getvalue()


@pytest.fixture()
def server():
    srv = TapServer()
    srv.legacy_image = legacy_fits
    with srv:
        yield srv
    gc.collect()


def test_cutout_as_tile(server, tmp_path):
    image, weight, mask = fetch_cutout(150.1, 2.2, 26.2, tmp_path / "cut.fits", band="r",
                                       base_url=f"{server.url}/viewer/fits-cutout", cache_dir=tmp_path / "cache",
                                       backoff_s=0.01)
    method, path, params, _ = server.requests[-1]
    assert params == {"ra": "150.1000000", "dec": "2.2000000", "layer": "ls-dr10", "pixscale": "0.262",
                      "bands": "r", "size": "100"}
    with fits.open(image) as hdul:
        hdr, data = hdul[0].header, hdul[0].data
        assert data.shape == (100, 100) and hdr["NAXIS"] == 2
        assert hdr["ZEROPT"] == LEGACY_ZEROPOINT_MAG and hdr["PIXSCALE"] == pytest.approx(0.262)
        assert hdr["PSF_FWHM"] > 0 and data[50, 50] == 10.0
        ra, dec = WCS(hdr).pixel_to_world_values(49.5, 49.5)
        assert (ra, dec) == pytest.approx((150.1, 2.2), abs=1e-6)
    with fits.open(mask) as hdul:
        assert hdul[0].data.dtype == np.dtype(">i2") and hdul[0].data[0, 0] == 1 and hdul[0].data.sum() == 1
    with fits.open(weight) as hdul:
        assert hdul[0].data[0, 0] == 0 and hdul[0].data[1, 1] == 1
    n = len(server.requests)
    fetch_cutout(150.1, 2.2, 26.2, tmp_path / "again.fits", base_url=f"{server.url}/viewer/fits-cutout",
                 cache_dir=tmp_path / "cache")
    assert len(server.requests) == n  # cached


def test_two_dimensional_answer_and_truncation(server, tmp_path):
    server.legacy_image = lambda params: legacy_fits(params, cube=False)
    server.add_fault(r"/viewer/fits-cutout$", "truncate")
    image, _, _ = fetch_cutout(10.0, -5.0, 5.24, tmp_path / "c.fits", base_url=f"{server.url}/viewer/fits-cutout",
                               cache_dir=tmp_path / "cache", backoff_s=0.01)
    assert fits.getdata(image).shape == (20, 20)
    assert server.count(r"/viewer/fits-cutout$") == 2


def test_errors(server, tmp_path):
    with pytest.raises(InputError, match="size"):
        cutout_params(10.0, 0.0, 5000)
    with pytest.raises(InputError, match="bands"):
        cutout_params(10.0, 0.0, 10, bands="x")
    with pytest.raises(InputError, match="position"):
        cutout_params(400.0, 0.0, 10)
    server.add_fault(r"/viewer/fits-cutout$", "503", times=5)
    with pytest.raises(DownloadError, match="Legacy Surveys ls-dr10 r-band cutout"):
        fetch_cutout(10.0, -5.0, 5.24, tmp_path / "c.fits", base_url=f"{server.url}/viewer/fits-cutout",
                     cache_dir=tmp_path / "cache", retries=1, backoff_s=0.01)
    assert not (tmp_path / "c.fits").exists()


def test_backend_interface(server, tmp_path):
    with LegacySurveyBackend(base_url=f"{server.url}/viewer/fits-cutout", cache_dir=tmp_path / "cache",
                             backoff_s=0.01) as backend:
        assert isinstance(backend, SurveyBackend)
        assert backend.pixel_scale_arcsec == 0.262 and backend.zeropoint_mag() == 22.5
        out = backend.fetch_cutout(150.0, 2.0, 10.0, "g", tmp_path / "g.fits")
        assert fits.getheader(out)["BAND"] == "g"
        with pytest.raises(NotImplementedError, match="tractor"):
            backend.query_catalog(region=(150.0, 2.0, 0.1))
        with pytest.raises(NotImplementedError):
            backend.fetch_image("x", "r", tmp_path / "t.fits")


def test_corrupt_answer_is_not_cached(server, tmp_path):
    server.legacy_image = lambda params: b"<html>not a FITS file</html>"
    with pytest.raises(DownloadError, match="not a readable FITS"):
        fetch_cutout(10.0, -5.0, 5.24, tmp_path / "c.fits", base_url=f"{server.url}/viewer/fits-cutout",
                     cache_dir=tmp_path / "cache", backoff_s=0.01)
    assert list((tmp_path / "cache").iterdir()) == [] and not (tmp_path / "c.fits").exists()
