"""The built-in mock survey (KiDS-like by default): one tile (images per band, catalogue, truth) per call.

A tile is a deterministic function of ``(seed, tile index, settings)``: the
generator ``numpy.random.default_rng(SeedSequence([seed, index]))`` is split
into independent streams for the tile's conditions, the objects, the noise
and the synthetic catalogue columns; the bands other than r draw their
conditions and noise from streams spawned after those, so the r band is the
same whatever the other bands are. Every band of the survey preset
(``preset``, :mod:`lensfinder.surveys.presets`) is rendered on the same WCS
with its own seeing and depth. The tile, catalogue and truth formats
are described in ``docs/surveys.md``. The settings (:class:`MockSurveyConfig`
and their check) live in :mod:`lensfinder.surveys.mock.settings`, which the
workflow reads when it parses the configuration; this module re-exports them.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import pandas as pd

from lensfinder import constants
from lensfinder.io import InputError, atomic_path, write_table
from lensfinder.surveys.mock.bands import component_band_fluxes, render_band
from lensfinder.surveys.mock.catalog import build_catalog
from lensfinder.surveys.mock.galaxies import draw_tile_objects
from lensfinder.surveys.mock.settings import CONFIG_KEYS, MockSurveyConfig, check_config, mock_survey_config
from lensfinder.surveys.mock.sky import (MASK_CORE, MASK_HALO, add_noise, background_noise, noise_sigma_map,
                                         noiseless_image, star_mask)

__all__ = [
    "MockSurveyConfig",
    "MockTile",
    "CONFIG_KEYS",
    "check_config",
    "mock_survey_config",
    "tile_center",
    "tile_wcs",
    "make_tile",
    "write_tile",
]

log = logging.getLogger(__name__)

def tile_center(index: int, cfg: MockSurveyConfig) -> tuple[float, float]:
    """(RA, Dec) of tile ``index``, deg."""
    ra = cfg.field_ra_deg + cfg.tile_spacing_deg * (index % cfg.tiles_per_row)
    dec = cfg.field_dec_deg + cfg.tile_spacing_deg * (index // cfg.tiles_per_row)
    if not -90.0 < dec < 90.0:
        raise InputError(f"mock survey settings: tile {index} of field_dec_deg {cfg.field_dec_deg}, tile_spacing_deg "
                         f"{cfg.tile_spacing_deg}, tiles_per_row {cfg.tiles_per_row} lies at Dec {dec:g} deg; expected "
                         f"the tiles' rows inside (-90, 90) deg: lower field_dec_deg or add tiles_per_row")
    return float(ra % 360.0), float(dec)


def tile_wcs(ra_deg: float, dec_deg: float, size_pix: int,
             pixel_scale_arcsec: float = constants.KIDS_COADD_PIXEL_SCALE_ARCSEC):
    """TAN WCS of a square tile centred on ``(ra_deg, dec_deg)``, north up, east left."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra_deg, dec_deg]
    w.wcs.crpix = [(size_pix + 1) / 2.0, (size_pix + 1) / 2.0]
    w.wcs.cdelt = [-pixel_scale_arcsec / 3600.0, pixel_scale_arcsec / 3600.0]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    return w


@dataclasses.dataclass
class MockTile:
    """One generated tile: arrays, headers and tables.

    ``image``, ``weight`` and ``header`` are the detection band's; ``bands``
    holds every band's ``(image, weight, header)`` in the preset's order (the
    detection band's is the same objects); the mask is common to all bands.
    """

    image: np.ndarray
    weight: np.ndarray
    mask: np.ndarray
    header: object  # astropy.io.fits.Header
    catalog: pd.DataFrame
    truth: pd.DataFrame
    bands: dict = dataclasses.field(default_factory=dict)
    detection_band: str = "r"


# --------------------------------------------------------------------------- the tile

def make_tile(tile: str, index: int, seed: int, cfg: MockSurveyConfig | None = None,
              bands=None) -> MockTile:
    """Generate one mock tile: an image and weight per band, the mask, headers, catalogue and truth.

    Parameters
    ----------
    tile : str
        Tile name (``KIDS_TILE`` of the catalogue), e.g. ``MOCK_0``.
    index : int
        Tile index: sets the sky position and, with ``seed``, the randomness.
    seed : int
        Master seed.
    cfg : MockSurveyConfig, optional
    bands : sequence of str, optional
        Bands to render (default: the preset's); the detection band is always rendered, first.
    """
    from lensfinder.surveys.presets import get_preset

    cfg = cfg or MockSurveyConfig()
    check_config(cfg, "mock survey settings")
    t0 = time.perf_counter()
    preset = get_preset(cfg.preset)
    det = preset.detection_band
    bands = preset.check_bands(bands or preset.bands, "mock survey bands")
    bands = (det, *(b for b in bands if b != det))
    spec = preset.band(det)
    scale = preset.pixel_scale_arcsec
    zp = spec.zeropoint_mag
    zp_r = preset.band("r").zeropoint_mag if "r" in preset.all_bands else zp
    ss = np.random.SeedSequence([int(seed), int(index)])
    rng_tile, rng_sky, rng_noise, rng_cat = (np.random.default_rng(s) for s in ss.spawn(4))
    n = cfg.size_pix

    fwhm = float(rng_tile.uniform(*(cfg.psf_fwhm_arcsec or spec.psf_fwhm_range_arcsec)))
    beta = float(rng_tile.uniform(*cfg.moffat_beta))
    depth = float(rng_tile.uniform(*(cfg.depth_mag or spec.depth_range_mag)))
    sky = cfg.sky_mag_arcsec2 if cfg.sky_mag_arcsec2 is not None else spec.sky_mag_arcsec2
    ra0, dec0 = tile_center(index, cfg)
    wcs = tile_wcs(ra0, dec0, n, scale)

    truth, comps, owner = draw_tile_objects(cfg.counts(), n, scale, zp_r, rng_sky,
                                            theta_E_range=tuple(cfg.theta_E_arcsec))
    log.info("%s: %d objects (%s), %s PSF FWHM %.2f\" beta %.2f, depth %.2f mag", tile, len(truth),
             truth["object_type"].value_counts().to_dict(), det, fwhm, beta, depth)

    stars = truth["object_type"].to_numpy() == "star"
    star_x, star_y = truth.loc[stars, "x_pix"].to_numpy(), truth.loc[stars, "y_pix"].to_numpy()
    star_flux = 10 ** (-0.4 * (truth.loc[stars, "mag_r_true"].to_numpy() - zp_r))
    if det == "r":
        image, rendered = noiseless_image(n, comps, star_x, star_y, star_flux, fwhm, beta, scale)
    else:
        image, rendered = render_band(n, comps, owner, truth, det, fwhm_arcsec=fwhm, beta=beta,
                                      pixel_scale_arcsec=scale, zeropoint_mag=zp, zeropoint_r_mag=zp_r)
        # the truth's magnitudes are r: each component's rendered flux back in r counts
        in_det = component_band_fluxes(comps, owner, truth, det, zp - zp_r)
        rendered = rendered * np.array([c.flux for c in comps]) / np.where(in_det > 0, in_det, 1.0)
    sigma_bg, gain = background_noise(depth, sky, cfg.read_noise_fraction, scale, zp)
    sigma_map = noise_sigma_map(n, sigma_bg, cfg.chip_gaps, rng_noise)
    image, weight = add_noise(image, sigma_map, sigma_bg, gain, rng_noise)
    mask = star_mask(n, star_x, star_y, truth.loc[stars, "mag_r_true"].to_numpy(), cfg.star_mask_mag, scale)
    log.info("%s: band %s rendered, %.1f s", tile, det, time.perf_counter() - t0)

    flux_true = _complete_truth(truth, comps, owner, rendered, stars, star_flux, zp_r, wcs, tile)
    header = _band_header(wcs, tile, seed, index, det, fwhm, beta, zp, scale, depth, sigma_bg, gain)
    out = {det: (image, weight, header)}
    conditions = {det: (fwhm, beta)}
    # the other bands: conditions and noise from streams spawned after the detection band's
    for band, child in zip(bands[1:], ss.spawn(len(bands) - 1)):
        t1 = time.perf_counter()
        b_spec = preset.band(band)
        rng_cond, rng_bnoise = (np.random.default_rng(c) for c in child.spawn(2))
        b_fwhm = float(rng_cond.uniform(*b_spec.psf_fwhm_range_arcsec))
        b_beta = float(rng_cond.uniform(*cfg.moffat_beta))
        b_depth = float(rng_cond.uniform(*b_spec.depth_range_mag))
        b_image, _ = render_band(n, comps, owner, truth, band, fwhm_arcsec=b_fwhm, beta=b_beta,
                                 pixel_scale_arcsec=scale, zeropoint_mag=b_spec.zeropoint_mag, zeropoint_r_mag=zp_r)
        b_sigma, b_gain = background_noise(b_depth, b_spec.sky_mag_arcsec2, cfg.read_noise_fraction, scale,
                                           b_spec.zeropoint_mag)
        b_image, b_weight = add_noise(b_image, noise_sigma_map(n, b_sigma, cfg.chip_gaps, rng_bnoise), b_sigma,
                                      b_gain, rng_bnoise)
        out[band] = (b_image, b_weight, _band_header(wcs, tile, seed, index, band, b_fwhm, b_beta,
                                                     b_spec.zeropoint_mag, scale, b_depth, b_sigma, b_gain))
        conditions[band] = (b_fwhm, b_beta)
        log.info("%s: band %s PSF FWHM %.2f\" depth %.2f mag, %.1f s", tile, band, b_fwhm, b_depth,
                 time.perf_counter() - t1)

    catalog, primary = build_catalog(image, weight, mask, wcs, truth, flux_true, psf_fwhm_arcsec=fwhm,
                                     psf_beta=beta, gain=gain, cfg=cfg, tile=tile, rng=rng_cat,
                                     pixel_scale_arcsec=scale, zeropoint_mag=zp,
                                     band_images={b: (v[0], v[1], v[2]["ZEROPT"], *conditions[b])
                                                  for b, v in out.items()})
    log.info("%s: %d detections, %d of %d truth objects matched (%d lenses), %.1f s",
             tile, len(catalog), int(primary.sum()), len(truth), int(truth["is_lens"].sum()),
             time.perf_counter() - t0)
    ordered = {b: out[b] for b in preset.all_bands if b in out}
    return MockTile(image, weight, mask, header, catalog, truth, ordered, det)


def _band_header(wcs, tile, seed, index, band, fwhm, beta, zp, scale, depth, sigma_bg, gain):
    header = wcs.to_header()
    header["BUNIT"] = ("counts", "mag = ZEROPT - 2.5 log10(counts)")
    header["PSF_FWHM"] = (fwhm, "PSF FWHM, arcsec (Moffat)")
    header["MOFFBETA"] = (beta, "Moffat beta of the PSF")
    header["ZEROPT"] = (zp, "photometric zero point, mag")
    header["PIXSCALE"] = (scale, "arcsec per pixel")
    header["DEPTH5"] = (depth, "5-sigma depth, 2 arcsec aperture, mag")
    header["SKYSIG"] = (float(sigma_bg), "background sigma, counts (off chip gaps)")
    header["GAIN"] = (float(gain), "effective gain, e-/count")
    header["KIDSTILE"] = (tile, "tile name")
    header["OBJECT"] = tile
    header["FILTER"] = band
    header["MOCKSEED"] = (int(seed), "master seed of the mock survey")
    header["TILEIDX"] = (int(index), "tile index in the mock survey")
    return header


def _complete_truth(truth, comps, owner, rendered, stars, star_flux, zp, wcs, tile) -> np.ndarray:
    """Fill the truth's total magnitudes, magnifications, sky positions and tile; return each object's counts."""
    flux_own = np.zeros(len(truth))
    flux_lensed = np.zeros(len(truth))
    for c, o, f in zip(comps, owner, rendered):
        if c.kind == "lensed":
            flux_lensed[o] += f
        else:
            flux_own[o] += f
    flux_own[stars] = star_flux
    with np.errstate(divide="ignore"):
        truth["mag_r_total_true"] = zp - 2.5 * np.log10(flux_own + flux_lensed)
        mag_src = truth["mag_source"].to_numpy()
        truth["magnification"] = np.where(truth["is_lens"], flux_lensed / 10 ** (-0.4 * (mag_src - zp)), np.nan)
    t_ra, t_dec = wcs.pixel_to_world_values(truth["x_pix"].to_numpy(), truth["y_pix"].to_numpy())
    truth["ra"], truth["dec"] = t_ra, t_dec
    truth["is_lrg_like"] = truth["object_type"].isin(["elliptical", "lens"])
    truth["tile"] = tile
    return flux_own + flux_lensed


def _write_fits(data, header, path):
    from astropy.io import fits

    with atomic_path(path) as tmp:
        fits.PrimaryHDU(data, header=header).writeto(tmp, overwrite=True)


def write_tile(mock: MockTile, image_path, weight_path, mask_path, catalog_path, truth_path) -> None:
    """Write a tile's images (FITS) and two tables (Parquet) atomically.

    ``image_path``, ``weight_path`` and ``mask_path`` are each a path (the
    detection band's file) or a mapping ``{band: path}`` of the bands to write
    (bands the tile lacks raise :class:`~lensfinder.io.InputError`); the mask
    is the same in every band.
    """
    def per_band(paths, what):
        if isinstance(paths, dict):
            missing = [b for b in paths if b not in mock.bands]
            if missing:
                raise InputError(f"{what}: band {missing[0]!r}: expected one of the tile's bands "
                                 f"{', '.join(mock.bands)}")
            return paths
        return {mock.detection_band: paths}

    bands = mock.bands or {mock.detection_band: (mock.image, mock.weight, mock.header)}
    for band, path in per_band(image_path, "image paths").items():
        _write_fits(bands[band][0], bands[band][2], path)
    for band, path in per_band(weight_path, "weight paths").items():
        wh = _wcs_only(bands[band][2])
        wh["BUNIT"] = ("1/counts^2", "inverse variance of the background")
        _write_fits(bands[band][1], wh, path)
    for band, path in per_band(mask_path, "mask paths").items():
        mh = _wcs_only(bands[band][2])
        mh["MASKHALO"] = (MASK_HALO, "mask bit: bright-star halo")
        mh["MASKCORE"] = (MASK_CORE, "mask bit: bright-star core")
        _write_fits(mock.mask, mh, path)
    write_table(mock.catalog, catalog_path)
    write_table(mock.truth, truth_path)


def _wcs_only(header):
    out = header.copy()
    for key in ("BUNIT", "DEPTH5", "SKYSIG", "GAIN"):
        out.remove(key, ignore_missing=True)
    return out
