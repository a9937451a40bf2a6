"""The built-in mock KiDS-like r-band survey, one tile per call.

A tile is a deterministic function of ``(seed, tile index, settings)``: the
generator is ``numpy.random.default_rng(SeedSequence([seed, index]))`` split
into independent streams for the sky, the noise and the synthetic catalogue
columns, so the same call gives the same arrays and tables.

The tile
--------
- ``size_pix`` x ``size_pix`` float32 pixels of 0.2" (KiDS coadd grid) with a
  TAN WCS; tile ``index`` ``k`` is centred at ``RA = field_ra_deg +
  tile_spacing_deg * (k % tiles_per_row)``, ``Dec = field_dec_deg +
  tile_spacing_deg * (k // tiles_per_row)`` (a fake KiDS-like strip near
  RA 180, Dec 0, tiles one degree apart as in KiDS).
- Moffat PSF with per-tile FWHM drawn in ``psf_fwhm_arcsec`` (0.55"-0.9") and
  ``beta`` in ``moffat_beta``; header ``PSF_FWHM`` (arcsec), ``MOFFBETA``.
- Counts with zero point ``constants.MOCK_ZEROPOINT_MAG`` (header
  ``ZEROPT``), background subtracted. Noise: Gaussian sky + read-out noise
  whose sigma gives a 5-sigma point-source depth ``depth_mag`` (about 25) in a
  2" diameter aperture, plus the objects' Poisson noise (effective gain
  ``GAIN`` from the sky level ``sky_mag_arcsec2``). A few dither "chip gaps"
  (stripes with one exposure fewer) raise the noise by ``sqrt(5/4)``.
- Weight: inverse variance of the background (float32), as KiDS weights.
- Mask (int16, > 0 masked): ``MASK_HALO`` (2) inside the halo of each star
  brighter than ``star_mask_mag`` (radius grows with brightness),
  ``MASK_CORE`` (4) in its core.

Objects: see :mod:`lensfinder.surveys.mock.galaxies` (red ellipticals, lenses,
spirals, edge-on disks, merging pairs, ring galaxies, faint galaxies, stars).

The catalogue (``results/survey/catalog/{tile}.parquet``)
---------------------------------------------------------
Real KiDS DR4 column names, units and dtypes (as the fixture
``kids_dr4_sample.csv`` reads in pandas: float64, int64, str). *Measured*
from the image with photutils (detection on the PSF-matched filtered image
at ``detect_threshold_sigma`` x the background sigma, ``detect_npixels``
connected pixels, deblending, ``SourceCatalog``):

``ID`` (``KiDSDR4 Jhhmmss.sss+ddmmss.ss``, truncated sexagesimal of the
measured position, as KiDS builds it), ``KIDS_TILE``, ``THELI_NAME``,
``SeqNr`` (1-based), ``RAJ2000``, ``DECJ2000`` (= ``ALPHA_J2000``,
``DELTA_J2000``; deg, from the isophotal barycentre through the WCS),
``MAG_AUTO``, ``MAGERR_AUTO`` (Kron, k = 2.5), ``FLUX_RADIUS`` (half-light
radius in 0.213"/px catalogue pixels), ``KRON_RADIUS``, ``A_WORLD``,
``B_WORLD`` (deg), ``THETA_J2000`` (deg), ``FWHM_IMAGE`` (0.213"/px),
``FWHM_WORLD`` (deg), ``ISOAREA_WORLD`` (deg^2), ``CLASS_STAR`` (a
CLASS_STAR-like stellarity from the half-light radius relative to the PSF's,
pulled to 0.5 at low S/N), ``MASK`` (mask bits at the centre), ``IMAFLAGS_ISO``
(1 if any pixel of the segment is masked), ``Flag`` (SExtractor-like: 1
blended, 2 deblended, 8 touches the tile edge), ``Xpos``, ``Ypos`` (1-based
position on a 0.213"/px grid, ``1 + pix * 0.2/0.213``, like KiDS'
detector-grid columns; never use them for cutting).

*Synthetic* (an r-band image cannot give them), drawn from the matched truth
object (the brightest truth object inside the detection's segment; an
unmatched detection, e.g. a split-off arc, gets blue faint-galaxy values):
``COLOUR_GAAP_g_r``, ``COLOUR_GAAP_r_i``, ``MAG_GAAP_{u,g,r,i}`` and
``MAGERR_GAAP_{u,g,r,i}`` (``MAG_GAAP_r`` is the measured ``MAG_AUTO`` plus
an aperture offset; the other bands add the true colour; each band gets flux
noise for the KiDS DR4 depths u 24.2, g 25.1, r 25.0, i 23.7 and a 0.02 mag
calibration scatter; a negative noisy flux gives NaN, a non-detection);
``Z_B``, ``Z_B_MIN``, ``Z_B_MAX`` (true redshift with 0.04(1+z) scatter and 4%
outliers, on BPZ's 0.01 grid); ``SG2DPHOT`` (1 for stars of r 15-21.5 95% of
the time, 0 otherwise; saturated bright stars get 0 as in the real fixture;
galaxies 0).

The truth table (``results/survey/truth/{tile}.parquet``)
----------------------------------------------------------
One row per simulated object, read only by evaluation and mock grading:
``truth_id``, ``ID`` (catalogue ``ID`` of the detection it is the brightest
object of; null when undetected or blended into a brighter one),
``detected`` (bool: inside some detection's segment), ``object_type``,
``is_lens``, ``is_lrg_like`` (red elliptical or lens host),
``x_pix``, ``y_pix`` (0-based coadd pixels), ``ra``, ``dec`` (deg),
``mag_r_true`` (the object's own light), ``mag_r_total_true`` (with the
lensed arcs), ``colour_*_true``, ``z_true``, light shape (``R_sersic``
arcsec, ``n_sersic``, ``light_e1``, ``light_e2``), and for lenses the mass
(``theta_E`` arcsec, ``e1``, ``e2``, ``gamma1``, ``gamma2``) and source
(``source_R_sersic``, ``source_n_sersic``, ``source_e1``, ``source_e2``,
``source_center_x``, ``source_center_y`` arcsec from the lens centre,
``mag_source`` unlensed, ``magnification``, ``z_source``,
``source_colour_g_r_true``, ``source_colour_r_i_true``), ``group_id``
(merging pairs), ``tile``.

A default tile (2000 x 2000 px, 6.7' x 6.7') holds about 470 objects: 5
lenses, 48 ellipticals, 136 spirals, 24 edge-on disks, 16 merging pairs,
8 ring galaxies, 152 faint galaxies, 62 stars (2 bright, masked); photutils
detects 360-450 sources, of which about 140 enter the Li et al. BG sample and
about 40 the LRG sample (all 5 lens hosts among them in the default run).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lensfinder import constants
from lensfinder.io import InputError, atomic_path, write_table
from lensfinder.surveys.mock.galaxies import PopulationCounts, draw_population, render_components, render_stars

__all__ = [
    "MockSurveyConfig",
    "MockTile",
    "parse_overrides",
    "tile_center",
    "tile_wcs",
    "make_tile",
    "measure_catalog",
    "kids_id",
    "write_tile",
    "add_mock_survey_arguments",
    "run_mock_survey",
    "CATALOG_COLUMNS",
    "MASK_HALO",
    "MASK_CORE",
]

log = logging.getLogger(__name__)

#: Mask bits of the mock survey's mask image and ``MASK`` column.
MASK_HALO = 2
MASK_CORE = 4
#: KiDS DR4 5-sigma limiting magnitudes (2" aperture) per band (Kuijken et al. 2019).
KIDS_DR4_DEPTH_MAG = {"u": 24.2, "g": 25.1, "r": 25.0, "i": 23.7}
#: Default object counts of a 2000 x 2000 pixel tile (scaled with the area).
DEFAULT_TILE_AREA_PIX = 2000 * 2000
DEFAULT_N_GALAXIES = 400
DEFAULT_N_STARS = 60
DEFAULT_N_BRIGHT_STARS = 2
#: Fractions of the non-lens galaxies per type (merger: galaxies in pairs).
DEFAULT_GALAXY_MIX = {"elliptical": 0.12, "spiral": 0.34, "edge_on": 0.06, "merger": 0.08,
                      "ring": 0.02, "faint": 0.38}

#: Catalogue columns in order, with their dtype (as pandas reads the real fixture).
CATALOG_COLUMNS = {
    "ID": "str", "KIDS_TILE": "str", "THELI_NAME": "str", "SeqNr": "int64",
    "RAJ2000": "float64", "DECJ2000": "float64", "ALPHA_J2000": "float64", "DELTA_J2000": "float64",
    "MAG_AUTO": "float64", "MAGERR_AUTO": "float64", "FLUX_RADIUS": "float64", "KRON_RADIUS": "float64",
    "A_WORLD": "float64", "B_WORLD": "float64", "THETA_J2000": "float64",
    "FWHM_IMAGE": "float64", "FWHM_WORLD": "float64", "ISOAREA_WORLD": "float64",
    "CLASS_STAR": "float64", "SG2DPHOT": "int64",
    "COLOUR_GAAP_g_r": "float64", "COLOUR_GAAP_r_i": "float64",
    "MAG_GAAP_u": "float64", "MAG_GAAP_g": "float64", "MAG_GAAP_r": "float64", "MAG_GAAP_i": "float64",
    "MAGERR_GAAP_u": "float64", "MAGERR_GAAP_g": "float64", "MAGERR_GAAP_r": "float64",
    "MAGERR_GAAP_i": "float64",
    "MASK": "int64", "IMAFLAGS_ISO": "int64", "Flag": "int64",
    "Z_B": "float64", "Z_B_MIN": "float64", "Z_B_MAX": "float64",
    "Xpos": "float64", "Ypos": "float64",
}


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


def _check_config(cfg: MockSurveyConfig, source: str) -> None:
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


def parse_overrides(items, source: str = "--set") -> MockSurveyConfig:
    """A :class:`MockSurveyConfig` from ``key=value`` strings (values parsed as YAML)."""
    import yaml

    valid = {f.name for f in dataclasses.fields(MockSurveyConfig)}
    values = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"{source}: {item!r}: expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in valid:
            raise InputError(f"{source}: unknown key {key!r}; valid keys: {', '.join(sorted(valid))}")
        try:
            values[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{source}: {key}: cannot parse {text!r} as YAML ({exc})") from exc
    cfg = MockSurveyConfig(**values)
    _check_config(cfg, source)
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


def kids_id(ra_deg, dec_deg, prefix: str = "KiDSDR4") -> list[str]:
    """KiDS-style identifiers ``KiDSDR4 Jhhmmss.sss+ddmmss.ss`` (truncated, as IAU names)."""
    ra = np.mod(np.asarray(ra_deg, dtype=float), 360.0)
    dec = np.asarray(dec_deg, dtype=float)
    # integer milli-seconds of time and centi-arcsec, truncated; tiny epsilon against 0.xxx999
    ra_ms = np.floor(ra / 15.0 * 3600.0 * 1000.0 + 1e-6).astype(np.int64)
    dec_cas = np.floor(np.abs(dec) * 3600.0 * 100.0 + 1e-6).astype(np.int64)
    out = []
    for r, d, s in zip(ra_ms, dec_cas, dec):
        h, rem = divmod(int(r), 3600 * 1000)
        m, rem = divmod(rem, 60 * 1000)
        sec, ms = divmod(rem, 1000)
        dd, rem = divmod(int(d), 3600 * 100)
        dm, rem = divmod(rem, 60 * 100)
        ds, cs = divmod(rem, 100)
        sign = "-" if s < 0 else "+"
        out.append(f"{prefix} J{h:02d}{m:02d}{sec:02d}.{ms:03d}{sign}{dd:02d}{dm:02d}{ds:02d}.{cs:02d}")
    return out


# --------------------------------------------------------------------------- image

def _psf_kernel(fwhm_arcsec, beta, pixel_scale_arcsec, radius_arcsec=20.0):
    """Moffat kernel sampled at pixel centres (the pre-PSF light is already pixel-binned)."""
    from lensfinder.simulation.optics import moffat_psf_kernel

    size = 2 * int(np.ceil(radius_arcsec / pixel_scale_arcsec)) + 1
    return moffat_psf_kernel(fwhm_arcsec, pixel_scale_arcsec, beta=beta, size_pix=size, supersample=1)


def _noise_sigma_map(size_pix, sigma_bg, cfg, rng):
    """Background sigma per pixel, with dither 'chip gaps' (one exposure of five missing)."""
    sigma = np.full((size_pix, size_pix), sigma_bg, dtype=np.float32)
    if cfg.chip_gaps:
        n_gaps = max(1, int(round(size_pix / 1000)))
        for axis in rng.integers(0, 2, n_gaps):
            width = int(rng.integers(15, 40))
            start = int(rng.integers(0, size_pix - width))
            sl = (slice(start, start + width), slice(None)) if axis == 0 else (slice(None), slice(start, start + width))
            sigma[sl] *= np.float32(np.sqrt(5.0 / 4.0))
    return sigma


def _star_mask(size_pix, x, y, mag, cfg, pixel_scale_arcsec):
    mask = np.zeros((size_pix, size_pix), dtype=np.int16)
    bright = mag < cfg.star_mask_mag
    yy, xx = np.ogrid[:size_pix, :size_pix]
    for sx, sy, m in zip(x[bright], y[bright], mag[bright]):
        # halo radius: 3" at the mask limit, x1.58 per magnitude brighter
        r_halo = 3.0 * 10 ** (0.2 * (cfg.star_mask_mag - m)) / pixel_scale_arcsec
        r_core = r_halo / 4.0
        y0, y1 = int(max(sy - r_halo - 1, 0)), int(min(sy + r_halo + 2, size_pix))
        x0, x1 = int(max(sx - r_halo - 1, 0)), int(min(sx + r_halo + 2, size_pix))
        if y1 <= y0 or x1 <= x0:
            continue
        d2 = (yy[y0:y1] - sy) ** 2 + (xx[:, x0:x1] - sx) ** 2
        sub = mask[y0:y1, x0:x1]
        sub |= np.where(d2 <= r_halo**2, MASK_HALO, 0).astype(np.int16)
        sub |= np.where(d2 <= r_core**2, MASK_CORE, 0).astype(np.int16)
    return mask


# --------------------------------------------------------------------------- catalogue

def _psf_half_light_radius_pix(fwhm_arcsec, beta, pixel_scale_arcsec, cfg):
    """Half-light radius of a noiseless star measured the way the catalogue measures it."""
    img = np.zeros((121, 121))
    render_stars(img, [60.0], [60.0], [1e5], fwhm_arcsec, beta, pixel_scale_arcsec)
    cat, _, _ = _detect_and_measure(img, np.full(img.shape, 1e-4), None, cfg, fwhm_arcsec,
                                    pixel_scale_arcsec, deblend=False)
    return float(cat.flux_radius(0.5).value[0]) if cat is not None else np.nan


def _detect_and_measure(image, error, wcs, cfg, fwhm_arcsec, pixel_scale_arcsec, deblend=True,
                        background_sigma=None):
    from astropy.convolution import convolve
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources, make_2dgaussian_kernel

    fwhm_pix = fwhm_arcsec / pixel_scale_arcsec
    kernel = make_2dgaussian_kernel(fwhm_pix, size=2 * int(np.ceil(1.5 * fwhm_pix)) + 1)
    convolved = convolve(image, kernel, normalize_kernel=True)
    sigma = error if background_sigma is None else background_sigma
    threshold = cfg.detect_threshold_sigma * sigma
    segm = detect_sources(convolved, threshold, n_pixels=cfg.detect_npixels)
    if segm is None:
        return None, None, None
    parent = segm
    if deblend:
        segm = deblend_sources(convolved, segm, n_pixels=cfg.detect_npixels, n_levels=cfg.deblend_nlevels,
                               contrast=cfg.deblend_contrast, progress_bar=False)
    cat = SourceCatalog(image, segm, convolved_data=convolved, error=error, wcs=wcs)
    return cat, segm, parent


def measure_catalog(image, weight, mask, wcs, psf_fwhm_arcsec, psf_beta, gain, cfg: MockSurveyConfig,
                    tile: str, pixel_scale_arcsec=constants.KIDS_COADD_PIXEL_SCALE_ARCSEC,
                    zeropoint_mag=constants.MOCK_ZEROPOINT_MAG):
    """Detect and measure sources with photutils; KiDS DR4 names for the measured columns.

    Parameters
    ----------
    image, weight : ndarray
        Background-subtracted counts and inverse-variance weight.
    mask : ndarray of int16
        Mask bits (> 0 masked).
    wcs : astropy.wcs.WCS
    psf_fwhm_arcsec, psf_beta : float
        The tile's PSF (sets the detection filter and the stellarity scale).
    gain : float
        Effective gain (electrons per count) for the objects' Poisson noise.
    cfg : MockSurveyConfig
    tile : str
        ``KIDS_TILE`` value.

    Returns
    -------
    measured : pandas.DataFrame
        Measured columns (no synthetic ones yet) plus the helper columns
        ``label``, ``x_pix``, ``y_pix`` (0-based coadd pixels) and ``snr``.
    segm : photutils SegmentationImage or None
    """
    from scipy import ndimage

    sigma_bg = np.where(weight > 0, 1.0 / np.sqrt(np.maximum(weight, 1e-30)), np.inf)
    error = np.sqrt(sigma_bg**2 + np.maximum(image, 0) / gain)
    cat, segm, parent = _detect_and_measure(image, error, wcs, cfg, psf_fwhm_arcsec, pixel_scale_arcsec,
                                            background_sigma=sigma_bg)
    if cat is None:
        return pd.DataFrame(columns=["label", "x_pix", "y_pix", "snr"]), None
    labels = np.asarray(segm.labels)
    x = np.asarray(cat.x_centroid, dtype=float)
    y = np.asarray(cat.y_centroid, dtype=float)
    ra, dec = wcs.pixel_to_world_values(x, y)
    kron_flux = np.asarray(cat.kron_flux, dtype=float)
    kron_err = np.asarray(cat.kron_flux_err, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(kron_flux > 0, zeropoint_mag - 2.5 * np.log10(kron_flux), 99.0)
        magerr = np.where(kron_flux > 0, 2.5 / np.log(10) * kron_err / kron_flux, 99.0)
        snr = kron_flux / kron_err
    r_half = np.asarray(cat.flux_radius(0.5).value, dtype=float)
    to_cat_pix = pixel_scale_arcsec / constants.KIDS_CATALOG_PIXEL_SCALE_ARCSEC
    # stellarity: half-light radius relative to a star's, pulled to 0.5 at low S/N
    r_star = _psf_half_light_radius_pix(psf_fwhm_arcsec, psf_beta, pixel_scale_arcsec, cfg)
    ratio = r_half / r_star
    stellar = 1.0 / (1.0 + np.exp(np.clip((ratio - 1.12) / 0.04, -50, 50)))
    w = np.nan_to_num(snr) ** 2 / (np.nan_to_num(snr) ** 2 + 15.0**2)
    class_star = 0.5 + w * (stellar - 0.5)

    seg = segm.data
    mask_at = mask[np.clip(np.rint(y).astype(int), 0, mask.shape[0] - 1),
                   np.clip(np.rint(x).astype(int), 0, mask.shape[1] - 1)].astype(np.int64)
    imaflags = (ndimage.maximum((mask > 0).astype(np.int8), labels=seg, index=labels) > 0).astype(np.int64)
    # SExtractor-like flags: 1 + 2 for deblended children, 8 for segments touching the border
    parent_of = ndimage.maximum(parent.data, labels=seg, index=labels).astype(np.int64)
    n_children = np.bincount(parent_of, minlength=parent_of.max() + 1)[parent_of]
    flag = np.where(n_children > 1, 3, 0)
    ny, nx = image.shape
    touches = ((np.asarray(cat.bbox_xmin) == 0) | (np.asarray(cat.bbox_ymin) == 0)
               | (np.asarray(cat.bbox_xmax) == nx - 1) | (np.asarray(cat.bbox_ymax) == ny - 1))
    flag = flag | np.where(touches, 8, 0)

    deg_per_pix = pixel_scale_arcsec / 3600.0
    a_pix = np.asarray(cat.semimajor_axis.value, dtype=float)
    b_pix = np.asarray(cat.semiminor_axis.value, dtype=float)
    theta = np.asarray(cat.orientation.value, dtype=float)  # deg, counter-clockwise from +x
    fwhm_pix = np.asarray(cat.fwhm.value, dtype=float)
    measured = pd.DataFrame({
        "ID": kids_id(ra, dec),
        "KIDS_TILE": tile,
        "THELI_NAME": tile.replace(".", "p").replace("-", "m"),
        "SeqNr": labels.astype(np.int64),
        "RAJ2000": ra, "DECJ2000": dec, "ALPHA_J2000": ra, "DELTA_J2000": dec,
        "MAG_AUTO": mag, "MAGERR_AUTO": magerr,
        "FLUX_RADIUS": r_half * to_cat_pix,
        "KRON_RADIUS": np.asarray(cat.kron_radius.value, dtype=float),
        "A_WORLD": a_pix * deg_per_pix, "B_WORLD": b_pix * deg_per_pix,
        # x grows to the west (east left): east of north is theta - 90, in [-90, 90)
        "THETA_J2000": (theta % 180.0) - 90.0,
        "FWHM_IMAGE": fwhm_pix * to_cat_pix, "FWHM_WORLD": fwhm_pix * deg_per_pix,
        "ISOAREA_WORLD": np.asarray(cat.area.value, dtype=float) * deg_per_pix**2,
        "CLASS_STAR": class_star,
        "MASK": mask_at, "IMAFLAGS_ISO": imaflags, "Flag": flag.astype(np.int64),
        "Xpos": 1.0 + x * to_cat_pix, "Ypos": 1.0 + y * to_cat_pix,
        "label": labels, "x_pix": x, "y_pix": y, "snr": snr,
    })
    return measured, segm


def _match_truth(truth: pd.DataFrame, measured: pd.DataFrame, segm, flux_true: np.ndarray):
    """Each truth object's detection label (0: none) and whether it is that label's primary."""
    if segm is None or len(measured) == 0:
        return np.zeros(len(truth), dtype=np.int64), np.zeros(len(truth), dtype=bool)
    ny, nx = segm.data.shape
    xi = np.rint(truth["x_pix"].to_numpy()).astype(int)
    yi = np.rint(truth["y_pix"].to_numpy()).astype(int)
    inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    label = np.zeros(len(truth), dtype=np.int64)
    label[inside] = segm.data[yi[inside], xi[inside]]
    primary = np.zeros(len(truth), dtype=bool)
    order = np.argsort(-flux_true, kind="stable")
    seen = set()
    for i in order:
        if label[i] > 0 and label[i] not in seen:
            seen.add(label[i])
            primary[i] = True
    return label, primary


def _synthetic_columns(measured: pd.DataFrame, source: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Colours, GAaP magnitudes, photo-z and SG2DPHOT drawn from the matched truth (synthetic)."""
    n = len(measured)
    is_star = (source["object_type"] == "star").to_numpy()
    g_r = source["colour_g_r_true"].to_numpy(dtype=float).copy()
    r_i = source["colour_r_i_true"].to_numpy(dtype=float).copy()
    u_g = source["colour_u_g_true"].to_numpy(dtype=float).copy()
    z = source["z_true"].to_numpy(dtype=float).copy()
    mag_true = source["mag_r_true"].to_numpy(dtype=float)
    # unmatched detections (split-off arcs, fragments): blue faint galaxies
    unmatched = ~np.isfinite(g_r)
    k = int(unmatched.sum())
    g_r[unmatched] = rng.normal(0.5, 0.25, k)
    r_i[unmatched] = 0.3 * g_r[unmatched] + 0.12 + rng.normal(0, 0.08, k)
    u_g[unmatched] = 0.5 + 0.9 * g_r[unmatched] + rng.normal(0, 0.2, k)
    z[unmatched] = rng.uniform(0.3, 2.0, k)

    mag_auto = measured["MAG_AUTO"].to_numpy(dtype=float)
    ok = mag_auto < 90
    r_half_arcsec = measured["FLUX_RADIUS"].to_numpy(dtype=float) * constants.KIDS_CATALOG_PIXEL_SCALE_ARCSEC
    # GAaP measures a seeing-matched aperture: fainter than the total for extended sources
    offset = np.where(is_star, 0.03, np.clip(0.1 + 0.25 * (r_half_arcsec - 0.6), 0.05, 0.6))
    r_ap = np.where(ok, mag_auto, 26.0) + offset
    size_factor = np.maximum(1.0, r_half_arcsec / 0.6)
    mags, errs = {}, {}
    true_band = {"r": r_ap, "g": r_ap + g_r, "i": r_ap - r_i, "u": r_ap + g_r + u_g}
    for band in ("u", "g", "r", "i"):
        zp = 30.0
        flux_true = 10 ** (-0.4 * (true_band[band] - zp))
        sigma_f = 10 ** (-0.4 * (KIDS_DR4_DEPTH_MAG[band] - zp)) / 5.0 * size_factor
        flux = flux_true * 10 ** (-0.4 * rng.normal(0, 0.02, n)) + rng.normal(0, 1, n) * sigma_f
        with np.errstate(divide="ignore", invalid="ignore"):
            mags[band] = np.where(flux > 0, zp - 2.5 * np.log10(flux), np.nan)
            errs[band] = np.where(flux > 0, 2.5 / np.log(10) * sigma_f / flux, np.nan)
    # photometric redshift: BPZ-like scatter, outliers, 0.01 grid
    z_b = z + rng.normal(0, 0.04, n) * (1 + z)
    outlier = rng.uniform(size=n) < 0.04
    z_b = np.where(outlier, rng.uniform(0.05, 1.5, n), z_b)
    z_b = np.where(is_star, rng.uniform(0.01, 0.12, n), z_b)
    z_b = np.round(np.clip(z_b, 0.01, 3.5), 2)
    dz = np.round(np.clip(0.08 * (1 + z_b) * rng.uniform(0.6, 1.4, n), 0.01, None), 2)
    sg = np.where(is_star & (mag_true > 15.0) & (mag_true < 21.5) & (rng.uniform(size=n) < 0.95), 1, 0)
    return pd.DataFrame({
        "SG2DPHOT": sg.astype(np.int64),
        "COLOUR_GAAP_g_r": mags["g"] - mags["r"], "COLOUR_GAAP_r_i": mags["r"] - mags["i"],
        "MAG_GAAP_u": mags["u"], "MAG_GAAP_g": mags["g"], "MAG_GAAP_r": mags["r"], "MAG_GAAP_i": mags["i"],
        "MAGERR_GAAP_u": errs["u"], "MAGERR_GAAP_g": errs["g"], "MAGERR_GAAP_r": errs["r"],
        "MAGERR_GAAP_i": errs["i"],
        "Z_B": z_b, "Z_B_MIN": np.clip(z_b - dz, 0.0, None), "Z_B_MAX": z_b + dz,
    }, index=measured.index)


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
    _check_config(cfg, "mock survey settings")
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

    truth, comps, owner = draw_population(cfg.counts(), n, scale, zp, rng_sky,
                                          theta_E_range=tuple(cfg.theta_E_arcsec))
    log.info("%s: %d objects (%s), PSF FWHM %.2f\" beta %.2f, depth %.2f mag",
             tile, len(truth), truth["object_type"].value_counts().to_dict(), fwhm, beta, depth)

    # extended light, then the PSF, then the stars through the same PSF
    from scipy.signal import fftconvolve

    pre = np.zeros((n, n), dtype=np.float64)
    rendered = render_components(pre, comps, scale)
    image = fftconvolve(pre, _psf_kernel(fwhm, beta, scale), mode="same")
    stars = truth["object_type"].to_numpy() == "star"
    star_flux = 10 ** (-0.4 * (truth.loc[stars, "mag_r_true"].to_numpy() - zp))
    render_stars(image, truth.loc[stars, "x_pix"].to_numpy(), truth.loc[stars, "y_pix"].to_numpy(),
                 star_flux, fwhm, beta, scale)

    # noise: 5 sigma in a 2" diameter aperture at the depth, sky-limited
    n_ap = np.pi * 1.0**2 / scale**2
    sigma_bg = 10 ** (-0.4 * (depth - zp)) / (5.0 * np.sqrt(n_ap))
    sky_counts = 10 ** (-0.4 * (cfg.sky_mag_arcsec2 - zp)) * scale**2
    gain = sky_counts / ((1.0 - cfg.read_noise_fraction) * sigma_bg**2)
    sigma_map = _noise_sigma_map(n, sigma_bg, cfg, rng_noise)
    noise_sigma = np.sqrt(sigma_map.astype(np.float64) ** 2 + np.maximum(image, 0) / gain)
    image = (image + rng_noise.standard_normal((n, n)) * noise_sigma).astype(np.float32)
    weight = (1.0 / sigma_map.astype(np.float64) ** 2).astype(np.float32)
    mask = _star_mask(n, truth.loc[stars, "x_pix"].to_numpy(), truth.loc[stars, "y_pix"].to_numpy(),
                      truth.loc[stars, "mag_r_true"].to_numpy(), cfg, scale)

    # truth bookkeeping
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

    measured, segm = measure_catalog(image, weight, mask, wcs, fwhm, beta, gain, cfg, tile, scale, zp)
    label, primary = _match_truth(truth, measured, segm, flux_own + flux_lensed)
    row_of_label = pd.Series(np.arange(len(measured)), index=measured["label"].to_numpy()) \
        if len(measured) else pd.Series(dtype=np.int64)
    truth["detected"] = label > 0
    ids = np.full(len(truth), None, dtype=object)
    source = pd.DataFrame(index=np.arange(len(measured)),
                          columns=["object_type", "colour_g_r_true", "colour_r_i_true", "colour_u_g_true",
                                   "z_true", "mag_r_true"])
    source["object_type"] = ""
    for col in source.columns[1:]:
        source[col] = np.nan
    for i in np.flatnonzero(primary):
        row = int(row_of_label[label[i]])
        ids[i] = measured["ID"].iat[row]
        for col in source.columns:
            source.iat[row, source.columns.get_loc(col)] = truth[col].iat[i]
    truth.insert(1, "ID", pd.array(ids, dtype="str"))
    synthetic = _synthetic_columns(measured, source, rng_cat) if len(measured) else pd.DataFrame()
    catalog = pd.concat([measured, synthetic], axis=1)
    catalog = _finalise_catalog(catalog, tile)
    n_dup = int(catalog["ID"].duplicated().sum())
    if n_dup:
        log.warning("%s: %d detections share an ID with a brighter one (closer than 0.01\"); dropped", tile, n_dup)
        catalog = catalog.sort_values("MAG_AUTO", kind="stable").drop_duplicates("ID").sort_values("SeqNr")
        catalog = catalog.reset_index(drop=True)

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


def _finalise_catalog(catalog: pd.DataFrame, tile: str) -> pd.DataFrame:
    out = pd.DataFrame(index=catalog.index)
    for col, dtype in CATALOG_COLUMNS.items():
        if col in catalog:
            out[col] = catalog[col].astype(dtype)
        else:
            out[col] = pd.Series(dtype=dtype)
    return out.reset_index(drop=True)


def _write_fits(data, header, path):
    from astropy.io import fits

    with atomic_path(path) as tmp:
        fits.PrimaryHDU(data, header=header).writeto(tmp, overwrite=True)


def write_tile(mock: MockTile, image_path, weight_path, mask_path, catalog_path, truth_path) -> None:
    """Write a tile's three images and two tables atomically."""
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


# --------------------------------------------------------------------------- CLI

def add_mock_survey_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder mock-survey``."""
    parser.add_argument("--tile", required=True, help="tile name, e.g. MOCK_0 (the catalogue's KIDS_TILE)")
    parser.add_argument("--index", type=int, required=True, help="tile index: sky position and random stream")
    parser.add_argument("--seed", type=int, default=42, help="master seed (default 42)")
    parser.add_argument("--out-image", required=True, help="r-band image FITS")
    parser.add_argument("--out-weight", required=True, help="inverse-variance weight FITS")
    parser.add_argument("--out-mask", required=True, help="mask FITS (int16, > 0 masked)")
    parser.add_argument("--out-catalog", required=True, help="catalogue Parquet (KiDS DR4 columns)")
    parser.add_argument("--out-truth", required=True, help="truth Parquet (evaluation only)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting (value parsed as YAML), e.g. --set size_pix=1000 "
                             "--set 'psf_fwhm_arcsec=[0.6, 0.8]'; keys: "
                             + ", ".join(f.name for f in dataclasses.fields(MockSurveyConfig)))


def run_mock_survey(args: argparse.Namespace) -> int:
    """Generate one tile and write its files."""
    if args.index < 0:
        raise InputError(f"--index: expected a non-negative integer, got {args.index}")
    cfg = parse_overrides(args.overrides)
    mock = make_tile(args.tile, args.index, args.seed, cfg)
    write_tile(mock, args.out_image, args.out_weight, args.out_mask, args.out_catalog, args.out_truth)
    counts = mock.truth["object_type"].value_counts().to_dict()
    log.info("wrote %s (%d x %d), %d catalogue rows, truth %s", Path(args.out_image).name,
             *mock.image.shape, len(mock.catalog), counts)
    return 0
