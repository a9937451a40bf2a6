"""The built-in mock KiDS-like r-band survey: settings, and one tile (image, weight, mask, catalogue, truth) per call.

A tile is a deterministic function of ``(seed, tile index, settings)``: the
generator ``numpy.random.default_rng(SeedSequence([seed, index]))`` is split
into independent streams for the tile's conditions, the objects, the noise
and the synthetic catalogue columns. The tile, catalogue and truth formats
are described in ``docs/surveys.md``.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
import pandas as pd

from lensfinder import constants
from lensfinder.io import InputError, atomic_path, write_table
from lensfinder.surveys.mock.catalog import build_catalog
from lensfinder.surveys.mock.galaxies import PopulationCounts, draw_tile_objects
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

#: Default object counts of a 2000 x 2000 pixel tile (scaled with the area).
DEFAULT_TILE_AREA_PIX = 2000 * 2000
DEFAULT_N_GALAXIES = 400
DEFAULT_N_STARS = 60
DEFAULT_N_BRIGHT_STARS = 2
#: Fractions of the non-lens galaxies per type (merger: galaxies in pairs).
DEFAULT_GALAXY_MIX = {"elliptical": 0.12, "spiral": 0.34, "edge_on": 0.06, "merger": 0.08,
                      "ring": 0.02, "faint": 0.38}


@dataclasses.dataclass
class MockSurveyConfig:
    """Settings of the mock survey; every field can be set with ``--set key=value``.

    Ranges are ``[low, high]`` lists from which each tile draws uniformly.
    Counts left ``None`` scale with the tile area from the defaults of a
    2000 x 2000 pixel tile (400 galaxies, 60 stars, 2 bright stars); the
    number of lenses does not. ``galaxy_mix`` splits the galaxies by type
    (relative weights; keys left out keep their defaults).
    """

    size_pix: int = 2000
    n_galaxies: int | None = None
    galaxy_mix: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_GALAXY_MIX))
    n_stars: int | None = None
    n_bright_stars: int | None = None
    n_lenses: int = 5
    theta_E_arcsec: list = dataclasses.field(default_factory=lambda: [1.2, 3.0])
    psf_fwhm_arcsec: list = dataclasses.field(default_factory=lambda: [0.55, 0.9])
    moffat_beta: list = dataclasses.field(default_factory=lambda: [2.8, 4.8])
    depth_mag: list = dataclasses.field(default_factory=lambda: [24.9, 25.1])
    sky_mag_arcsec2: float = 20.9
    read_noise_fraction: float = 0.1
    chip_gaps: bool = True
    star_mask_mag: float = 17.0
    field_ra_deg: float = 180.0
    field_dec_deg: float = 0.0
    tile_spacing_deg: float = 1.0
    tiles_per_row: int = 4
    detect_threshold_sigma: float = 1.5
    detect_npixels: int = 5
    deblend_contrast: float = 0.005
    deblend_nlevels: int = 32

    def counts(self) -> PopulationCounts:
        """Objects per kind for this tile size."""
        scale = self.size_pix**2 / DEFAULT_TILE_AREA_PIX
        n_gal = self.n_galaxies if self.n_galaxies is not None else int(round(DEFAULT_N_GALAXIES * scale))
        mix = {k: float(v) for k, v in {**DEFAULT_GALAXY_MIX, **self.galaxy_mix}.items()}
        total = sum(mix.values()) or 1.0
        n = {k: int(round(n_gal * v / total)) for k, v in mix.items()}
        return PopulationCounts(
            elliptical=n["elliptical"], spiral=n["spiral"], edge_on=n["edge_on"],
            merger_pairs=n["merger"] // 2, ring=n["ring"], faint=n["faint"],
            stars=self.n_stars if self.n_stars is not None else int(round(DEFAULT_N_STARS * scale)),
            bright_stars=(self.n_bright_stars if self.n_bright_stars is not None
                          else int(round(DEFAULT_N_BRIGHT_STARS * scale))),
            lenses=self.n_lenses,
        )


#: The settings' names (the keys of ``lensfinder mock-survey --set key=value``).
CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(MockSurveyConfig))


def check_config(cfg: MockSurveyConfig, source: str) -> None:
    """Raise :class:`~lensfinder.io.InputError` naming ``source`` and the key of the first bad setting."""
    def bad(key, expected):
        raise InputError(f"{source}: {key}: expected {expected}, got {getattr(cfg, key)!r}")

    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if isinstance(default, list):
            if (not isinstance(v, (list, tuple)) or len(v) != 2
                    or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in v) or v[0] > v[1]):
                bad(f.name, "a range [low, high] of two numbers")
        elif isinstance(default, bool):
            if not isinstance(v, bool):
                bad(f.name, "true or false")
        elif isinstance(default, int) or f.name.startswith("n_"):
            if v is None and default is None:
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                bad(f.name, "a non-negative integer")
        elif isinstance(default, float):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                bad(f.name, "a number")
        elif isinstance(default, dict):
            if not isinstance(v, dict) or any(k not in DEFAULT_GALAXY_MIX for k in v) or \
                    any(not isinstance(x, (int, float)) or x < 0 for x in v.values()):
                bad(f.name, f"a mapping of {sorted(DEFAULT_GALAXY_MIX)} to non-negative fractions")
    if cfg.size_pix < 200:
        bad("size_pix", "an integer >= 200")
    if not 0 < cfg.psf_fwhm_arcsec[0]:
        bad("psf_fwhm_arcsec", "positive FWHMs")
    if not cfg.moffat_beta[0] > 1.0:
        bad("moffat_beta", "Moffat beta > 1")


def mock_survey_config(values: dict, source: str = "mock survey settings") -> MockSurveyConfig:
    """A validated :class:`MockSurveyConfig` from a ``{key: value}`` mapping (keys left out keep their defaults).

    Raises
    ------
    lensfinder.io.InputError
        For an unknown key or a bad value; the message names ``source`` and the key.
    """
    unknown = [key for key in values if key not in CONFIG_KEYS]
    if unknown:
        raise InputError(f"{source}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(CONFIG_KEYS))}")
    cfg = MockSurveyConfig(**values)
    check_config(cfg, source)
    return cfg


def tile_center(index: int, cfg: MockSurveyConfig) -> tuple[float, float]:
    """(RA, Dec) of tile ``index``, deg."""
    ra = cfg.field_ra_deg + cfg.tile_spacing_deg * (index % cfg.tiles_per_row)
    dec = cfg.field_dec_deg + cfg.tile_spacing_deg * (index // cfg.tiles_per_row)
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
    """One generated tile: arrays, header and tables."""

    image: np.ndarray
    weight: np.ndarray
    mask: np.ndarray
    header: object  # astropy.io.fits.Header
    catalog: pd.DataFrame
    truth: pd.DataFrame


# --------------------------------------------------------------------------- the tile

def make_tile(tile: str, index: int, seed: int, cfg: MockSurveyConfig | None = None) -> MockTile:
    """Generate one mock tile: image, weight, mask, header, catalogue and truth.

    Parameters
    ----------
    tile : str
        Tile name (``KIDS_TILE`` of the catalogue), e.g. ``MOCK_0``.
    index : int
        Tile index: sets the sky position and, with ``seed``, the randomness.
    seed : int
        Master seed.
    cfg : MockSurveyConfig, optional
    """
    cfg = cfg or MockSurveyConfig()
    check_config(cfg, "mock survey settings")
    t0 = time.perf_counter()
    scale = constants.KIDS_COADD_PIXEL_SCALE_ARCSEC
    zp = constants.MOCK_ZEROPOINT_MAG
    ss = np.random.SeedSequence([int(seed), int(index)])
    rng_tile, rng_sky, rng_noise, rng_cat = (np.random.default_rng(s) for s in ss.spawn(4))
    n = cfg.size_pix

    fwhm = float(rng_tile.uniform(*cfg.psf_fwhm_arcsec))
    beta = float(rng_tile.uniform(*cfg.moffat_beta))
    depth = float(rng_tile.uniform(*cfg.depth_mag))
    ra0, dec0 = tile_center(index, cfg)
    wcs = tile_wcs(ra0, dec0, n, scale)

    truth, comps, owner = draw_tile_objects(cfg.counts(), n, scale, zp, rng_sky,
                                            theta_E_range=tuple(cfg.theta_E_arcsec))
    log.info("%s: %d objects (%s), PSF FWHM %.2f\" beta %.2f, depth %.2f mag",
             tile, len(truth), truth["object_type"].value_counts().to_dict(), fwhm, beta, depth)

    stars = truth["object_type"].to_numpy() == "star"
    star_x, star_y = truth.loc[stars, "x_pix"].to_numpy(), truth.loc[stars, "y_pix"].to_numpy()
    star_flux = 10 ** (-0.4 * (truth.loc[stars, "mag_r_true"].to_numpy() - zp))
    image, rendered = noiseless_image(n, comps, star_x, star_y, star_flux, fwhm, beta, scale)
    sigma_bg, gain = background_noise(depth, cfg.sky_mag_arcsec2, cfg.read_noise_fraction, scale, zp)
    sigma_map = noise_sigma_map(n, sigma_bg, cfg.chip_gaps, rng_noise)
    image, weight = add_noise(image, sigma_map, gain, rng_noise)
    mask = star_mask(n, star_x, star_y, truth.loc[stars, "mag_r_true"].to_numpy(), cfg.star_mask_mag, scale)

    flux_true = _complete_truth(truth, comps, owner, rendered, stars, star_flux, zp, wcs, tile)
    catalog, primary = build_catalog(image, weight, mask, wcs, truth, flux_true, psf_fwhm_arcsec=fwhm,
                                     psf_beta=beta, gain=gain, cfg=cfg, tile=tile, rng=rng_cat,
                                     pixel_scale_arcsec=scale, zeropoint_mag=zp)

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
    header["FILTER"] = "r"
    header["MOCKSEED"] = (int(seed), "master seed of the mock survey")
    header["TILEIDX"] = (int(index), "tile index in the mock survey")
    log.info("%s: %d detections, %d of %d truth objects matched (%d lenses), %.1f s",
             tile, len(catalog), int(primary.sum()), len(truth), int(truth["is_lens"].sum()),
             time.perf_counter() - t0)
    return MockTile(image, weight, mask, header, catalog, truth)


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
    """Write a tile's three images (FITS) and two tables (Parquet) atomically."""
    _write_fits(mock.image, mock.header, image_path)
    wcs_only = mock.header.copy()
    for key in ("BUNIT", "DEPTH5", "SKYSIG", "GAIN"):
        wcs_only.remove(key, ignore_missing=True)
    wh = wcs_only.copy()
    wh["BUNIT"] = ("1/counts^2", "inverse variance of the background")
    _write_fits(mock.weight, wh, weight_path)
    mh = wcs_only.copy()
    mh["MASKHALO"] = (MASK_HALO, "mask bit: bright-star halo")
    mh["MASKCORE"] = (MASK_CORE, "mask bit: bright-star core")
    _write_fits(mock.mask, mh, mask_path)
    write_table(mock.catalog, catalog_path)
    write_table(mock.truth, truth_path)
