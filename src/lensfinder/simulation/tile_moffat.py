"""A survey tile's PSF as a Moffat profile fitted to its stars, per band (the colour residual's PSF match).

:func:`tile_moffat` fits the stars :func:`lensfinder.simulation.epsf.select_psf_stars` picks for the ePSF,
each on its own, with a pixel-integrated astropy ``Moffat2D``, and takes the median: the stamp index's
``psf_moffat_*`` columns (docs/learning.md, "The tiles' own PSFs").
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from lensfinder.simulation.epsf import select_psf_stars, settings_with_defaults

__all__ = ["MOFFAT_FIT_SIZE_PIX", "MOFFAT_FIT_OVERSAMPLE", "MOFFAT_MIN_STARS", "TileMoffat", "fit_star_moffats",
           "tile_moffat"]

log = logging.getLogger(__name__)


#: Star cut-outs for the Moffat fit: 41 x 41 pixels (8" at 0.2"/px), which hold a ground-based PSF's wings
MOFFAT_FIT_SIZE_PIX = 41
#: Sub-pixels per axis of the fitted model: the stars in a coadd are pixel-integrated
MOFFAT_FIT_OVERSAMPLE = 4
#: Fewest stars whose median is a tile's Moffat (three fit the mock tiles' FWHM to 0.005" and beta to 0.5)
MOFFAT_MIN_STARS = 3


class TileMoffat:
    """A tile's PSF as a Moffat profile fitted to its stars, one band.

    Attributes
    ----------
    fwhm_arcsec, beta : float
        The medians over the stars fitted (NaN when none could be).
    fwhm_err_arcsec, beta_err : float
        Their uncertainties: 1.2533 times the stars' scatter over the square root of their number (the
        standard error of a median).
    n_stars : int
    """

    def __init__(self, fwhm_arcsec, beta, fwhm_err_arcsec, beta_err, n_stars):
        self.fwhm_arcsec, self.beta = float(fwhm_arcsec), float(beta)
        self.fwhm_err_arcsec, self.beta_err = float(fwhm_err_arcsec), float(beta_err)
        self.n_stars = int(n_stars)


def _pixel_moffat_model(oversample: int):
    """astropy's ``Moffat2D`` integrated over each pixel (the mean over ``oversample^2`` sub-pixels)."""
    from astropy.modeling import Fittable2DModel, Parameter
    from astropy.modeling.functional_models import Moffat2D

    offsets = (np.arange(oversample) + 0.5) / oversample - 0.5

    class PixelMoffat2D(Fittable2DModel):
        amplitude = Parameter(default=1.0)
        x_0 = Parameter(default=0.0)
        y_0 = Parameter(default=0.0)
        gamma = Parameter(default=3.0, bounds=(0.3, 50.0))
        alpha = Parameter(default=3.5, bounds=(1.05, 20.0))

        @staticmethod
        def evaluate(x, y, amplitude, x_0, y_0, gamma, alpha):
            total = 0.0
            for dy in offsets:
                for dx in offsets:
                    total = total + Moffat2D.evaluate(x + dx, y + dy, amplitude, x_0, y_0, gamma, alpha)
            return total / oversample**2

    return PixelMoffat2D


def fit_star_moffats(image, x_pix, y_pix, pixel_scale_arcsec: float, size_pix: int = MOFFAT_FIT_SIZE_PIX,
                     oversample: int = MOFFAT_FIT_OVERSAMPLE, min_stars: int = MOFFAT_MIN_STARS) -> TileMoffat:
    """A Moffat profile fitted to each star at ``(x_pix, y_pix)`` (0-based pixels) of ``image``: FWHM and beta.

    Each star is cut out ``size_pix`` pixels square, the median of the cut-out's border taken off as its
    sky, and fitted (astropy's trust-region least squares) by a pixel-integrated ``Moffat2D``. Stars whose
    cut-out leaves the image, holds a non-finite pixel, or whose fit does not converge to a profile
    (beta at a bound) are skipped; fewer than ``min_stars`` fitted give NaN (and their number).
    """
    from astropy.modeling import fitting

    model = _pixel_moffat_model(oversample)
    half = size_pix // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(float)
    ny, nx = image.shape
    fwhm, beta = [], []
    fitter = fitting.TRFLSQFitter()
    for x, y in zip(np.asarray(x_pix, float), np.asarray(y_pix, float)):
        cx, cy = int(round(x)), int(round(y))
        if not (half <= cx < nx - half and half <= cy < ny - half):
            continue
        cut = np.asarray(image[cy - half:cy + half + 1, cx - half:cx + half + 1], dtype=float)
        if not np.all(np.isfinite(cut)):
            continue
        cut = cut - np.median(np.concatenate([cut[0], cut[-1], cut[1:-1, 0], cut[1:-1, -1]]))
        start = model(amplitude=max(cut.max(), 1e-12), x_0=x - cx, y_0=y - cy, gamma=3.0, alpha=3.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fitter's notes on its iterations
            fit = fitter(start, xx, yy, cut, maxiter=200)
        a, g = float(fit.alpha.value), abs(float(fit.gamma.value))
        if not (1.06 < a < 19.9 and 0.31 < g < 49.9):
            continue
        fwhm.append(2.0 * g * np.sqrt(2.0 ** (1.0 / a) - 1.0) * pixel_scale_arcsec)
        beta.append(a)
    n = len(fwhm)
    if n < max(int(min_stars), 1):
        return TileMoffat(np.nan, np.nan, np.nan, np.nan, n)
    fwhm, beta = np.array(fwhm), np.array(beta)
    spread = (lambda v: 1.2533 * v.std(ddof=1) / np.sqrt(n)) if n > 1 else (lambda v: np.nan)
    return TileMoffat(np.median(fwhm), np.median(beta), spread(fwhm), spread(beta), n)


def tile_moffat(image, wcs, pixel_scale_arcsec: float, catalog, settings: dict | None = None,
                source: str = "tile") -> TileMoffat:
    """The Moffat PSF of one tile and band: :func:`fit_star_moffats` on the stars :func:`select_psf_stars` picks
    from ``catalog`` on ``image`` (its celestial ``wcs``; ``settings`` over :data:`EPSF_DEFAULTS`, stars
    isolated by 4" unless given; the cut-outs :data:`MOFFAT_FIT_SIZE_PIX` square)."""
    s = settings_with_defaults({"isolation_arcsec": 4.0, **(settings or {}), "size_pix": MOFFAT_FIT_SIZE_PIX})
    x, y = select_psf_stars(catalog, image, wcs, s, pixel_scale_arcsec, source)
    result = fit_star_moffats(image, x, y, pixel_scale_arcsec)
    log.info("%s: Moffat PSF from %d stars: FWHM %.3f\" +- %.3f, beta %.2f +- %.2f", source, result.n_stars,
             result.fwhm_arcsec, result.fwhm_err_arcsec, result.beta, result.beta_err)
    return result
