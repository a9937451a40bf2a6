"""The colour-residual input band: the blue band minus the red band matched to the central galaxy (pure numpy).

A lens galaxy's light has one colour; a lensed arc or counter-image inside it
is bluer. Subtracting the red band, scaled to the galaxy's core, from the blue
band cancels the galaxy and keeps the arc (RingFinder's g - a i step,
Gavazzi et al. 2014, ApJ 785, 144). The two bands rarely share a PSF: KiDS
observes r in its best seeing (median 0.7") and g in worse (0.9"), and the
ratio changes from tile to tile. A scale alone then leaves a ring round
every compact galaxy, the blue band's wider wings, which is an Einstein
ring to a network. The default ``psf`` match first blurs the sharper band
with the Gaussian that best matches the two cores, then scales: a
one-parameter PSF match measured on the stamp itself (the stamps carry no
PSF), in the spirit of the Gaussian kernels of Alard & Lupton (1998, ApJ
503, 325); ``scale`` is the scale alone (the networks of the first
residual, whose sidecars do not say).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lensfinder.constants import MOFFAT_FIT_PREFIXES  # re-exported: the table columns of the fits
from lensfinder.learning.border import MAD_TO_SIGMA, border_mask

__all__ = [
    "COLOUR_RESIDUAL_CORE_PIX",
    "COLOUR_RESIDUAL_MATCHES",
    "MATCH_FIT_PIX",
    "MATCH_SIGMAS_PIX",
    "resolve_colour_residual",
    "settings_residual",
    "settings_residual_match",
    "colour_residual_band",
    "match_sigmas",
    "MOFFAT_MATCH_RADIUS_ARCSEC",
    "MOFFAT_MATCH_MAX_ABS_SUM",
    "MOFFAT_MATCH_TUKEY_ALPHA",
    "moffat_match",
    "MOFFAT_FIT_PREFIXES",
    "moffat_fit_columns",
    "stamp_psfs",
]

#: Radius (pixels of the stamp) of the core over which the red band is scaled to the blue band:
#: 3 pixels, 0.6" on KiDS' 0.2"/px, about the PSF's half width, where the lens light outshines arcs
COLOUR_RESIDUAL_CORE_PIX = 3.0
#: How the red band is matched to the blue: ``psf`` (blur the sharper band, then scale) or ``scale``
COLOUR_RESIDUAL_MATCHES = ("psf", "scale")
#: Radius (pixels) over which the blur is chosen: 6 pixels, 1.2", where a PSF mismatch leaves its ring
MATCH_FIT_PIX = 6.0
#: Gaussian blurs tried (sigma, pixels), on either band: up to 2.5 px, 0.5" on KiDS' grid, which matches
#: a 0.7" PSF to a 1.35" one (KiDS DR4's g band: 0.6-1.1", r: 0.5-0.9", Kuijken et al. 2019)
MATCH_SIGMAS_PIX = tuple(np.round(np.arange(0.0, 2.51, 0.25), 2))
_TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default reach, in sigmas
#: Radius (arcsec) of the two Moffat profiles whose matching kernel blurs a stamp with its tile's PSF fits:
#: 4", the mock survey's matched photometry's, where a ground-based PSF's wings fall below 1 % of its peak
MOFFAT_MATCH_RADIUS_ARCSEC = 4.0
#: The guard for nearly equal fits: an unwindowed Moffat matching kernel whose absolute values sum to more
#: than this (1 for a kernel without negative lobes) rings. Two PSFs within ~10 % in FWHM, or of other
#: wings, give it (a sum of 5 for two equal PSFs, 15 for 0.8" beta 4.5 to 0.801" beta 2.5, which also
#: raises white noise by 28 %); such pairs take the kernel under a Tukey window instead (tested: its sum
#: stays under 2.5, the noise is not raised, and the blurred PSF is the broader one to 2 % of its flux).
MOFFAT_MATCH_MAX_ABS_SUM = 2.0
#: the Tukey window's alpha for the guarded kernels (photutils' ``TukeyWindow``)
MOFFAT_MATCH_TUKEY_ALPHA = 0.5


def resolve_colour_residual(value: str, bands, key: str = "colour_residual") -> tuple:
    """The two bands (blue, red) of a colour residual setting for a network that sees ``bands``.

    ``none``: no residual, ``()``; ``auto``: ``("g", "r")`` when ``bands`` hold both, else ``()``;
    ``BLUE-RED`` (e.g. ``g-i``): those two bands, which must be distinct and among ``bands``
    (``ValueError`` naming ``key`` otherwise).
    """
    value = str(value)
    if value == "none":
        return ()
    if value == "auto":
        return ("g", "r") if {"g", "r"} <= set(bands) else ()
    pair = tuple(value.split("-"))
    if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(bands):
        raise ValueError(f"{key}: {value!r}: expected auto, none or BLUE-RED, two distinct bands of the network's "
                         f"{list(bands)} (e.g. g-r)")
    return pair


def settings_residual(settings: dict) -> tuple:
    """The colour residual's two bands of a network's settings (``()``: none, as in sidecars written before it)."""
    return tuple(settings.get("colour_residual") or ())


def settings_residual_match(settings: dict):
    """How a network's colour residual matches its bands: ``psf`` or ``scale`` (a sidecar that does not say
    was written before the PSF match); None for a network without a residual."""
    if not settings_residual(settings):
        return None
    return settings.get("colour_residual_match") or "scale"


def _border_noise(images):
    """MAD sigma of each image's border pixels (the frame ``sky`` normalisation reads,
    :func:`lensfinder.learning.border.border_mask`), float64."""
    shape = images.shape[-2:]
    border = images[:, border_mask(shape) & _checkerboard(shape)]  # every other pixel: the noise to 4 %, half the cost
    median = np.median(border, axis=1)
    return MAD_TO_SIGMA * np.median(np.abs(border - median[:, None]), axis=1).astype(np.float64)


def _checkerboard(shape):
    ny, nx = shape
    return (np.add.outer(np.arange(ny), np.arange(nx)) % 2) == 0


def _disk(shape, radius: float):
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    return (yy - (ny - 1) / 2) ** 2 + (xx - (nx - 1) / 2) ** 2 <= radius**2


def _kernel1d(sigma: float):
    """scipy.ndimage.gaussian_filter's 1-D weights for ``sigma`` (radius ``int(4 sigma + 0.5)``); [1] at 0."""
    if sigma <= 0:
        return np.ones(1)
    radius = int(_TRUNCATE * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


@lru_cache(maxsize=4)
def _blur_matrices(half: int, sigmas: tuple, fit_pix: float):
    """The blurs ``sigmas`` of a ``(2 half + 1)^2`` crop, evaluated on the square round its pixels within
    ``fit_pix`` of the centre, as 1-D matrices ``(n_sigmas, square side, crop side)`` (the same along y and
    x; scipy's Gaussian weights, :func:`_kernel1d`), and each blur's white-noise power factor (the sum of
    its squared weights)."""
    reach = int(np.floor(fit_pix))
    offsets = np.arange(half - reach, half + reach + 1)[:, None] - np.arange(2 * half + 1)[None, :]
    mats, power = [], []
    for sigma in sigmas:
        weights = _kernel1d(sigma)
        radius = len(weights) // 2
        mats.append(np.where(np.abs(offsets) <= radius, weights[np.clip(offsets + radius, 0, 2 * radius)], 0.0))
        power.append(float((weights**2).sum() ** 2))
    return np.stack(mats).astype(np.float32), np.array(power)


def _blur(images, sigmas):
    """Each image blurred by its own Gaussian ``sigmas`` (pixels; 0: unchanged): scipy's ``gaussian_filter``,
    its edges extended (``mode="nearest"``), over the images of each sigma at once."""
    from scipy import ndimage  # here: the command line's start does not pay for it
    out = images.copy()
    for value in np.unique(sigmas[sigmas > 0]):
        rows = sigmas == value
        out[rows] = ndimage.gaussian_filter(images[rows], (0, value, value), mode="nearest", truncate=_TRUNCATE)
    return out


def match_sigmas(blue, red, sigmas=MATCH_SIGMAS_PIX, *, fit_pix: float = MATCH_FIT_PIX,
                 core_pix: float = COLOUR_RESIDUAL_CORE_PIX):
    """The Gaussian blur (sigma, pixels) that best matches each image's red band to its blue band.

    Positive: the red band is blurred (its PSF is the sharper); negative: the blue band is; 0: neither.
    For each blur of ``sigmas`` on either band the red band is scaled to the blue over the core (least
    squares, clipped to 0..2), and the residual's radial profile within ``fit_pix`` of the centre is
    measured, each one-pixel ring by the median of its pixels (a PSF mismatch is round; a companion or
    an arc on one side of the galaxy is left out): its power, each ring weighted by its pixels, less
    what the noise alone would give (each band's border noise, times what the blur keeps of it). A blur
    is chosen only if it lowers that by more than three times the noise's own spread (so that a faint
    galaxy, or none, is left alone), and it is refined between the grid's blurs to the vertex of a
    parabola through the best and its two neighbours (in added variance, sigma^2), to 0.01 pixel.

    Parameters
    ----------
    blue, red : numpy.ndarray, shape (n, ny, nx)
        Filled stamps (no NaN) of the two bands, the galaxy at the centre.

    Returns
    -------
    numpy.ndarray, float64, shape (n,)
    """
    n, ny, nx = blue.shape
    square = 2 * int(np.floor(fit_pix)) + 1
    if min(ny, nx) < square:  # no room to compare the blurs: no blur
        return np.zeros(n)
    reach = int(np.ceil(_TRUNCATE * max(sigmas)))
    half = min(int(np.ceil(fit_pix)) + reach, (min(ny, nx) - 1) // 2)
    cy, cx = (ny - 1) // 2, (nx - 1) // 2
    crop = (slice(None), slice(cy - half, cy + half + 1), slice(cx - half, cx + half + 1))
    mats, power = _blur_matrices(half, tuple(float(s) for s in sigmas), float(fit_pix))
    fit = _disk((square, square), fit_pix)
    in_core = _disk((square, square), core_pix)[fit]
    # (n, 1, crop, crop) -> (n, n_sigmas, square, square): along y, then x; then the pixels within fit_pix
    blurred_b = (mats @ blue[crop][:, None] @ mats.transpose(0, 2, 1))[..., fit].astype(np.float64)
    blurred_r = (mats @ red[crop][:, None] @ mats.transpose(0, 2, 1))[..., fit].astype(np.float64)
    noise_b, noise_r = _border_noise(blue), _border_noise(red)
    n_sigmas = len(sigmas)
    # one axis of blurs, t = +-sigma^2 (the variance added to red, or to blue when negative):
    # blue blurred most, ..., neither (t = 0, index n_sigmas - 1), ..., red blurred most
    grid = np.asarray(sigmas, float) ** 2
    t = np.concatenate([-grid[:0:-1], grid])
    bb = np.concatenate([blurred_b[:, :0:-1], np.repeat(blurred_b[:, :1], n_sigmas, axis=1)], axis=1)
    rr = np.concatenate([np.repeat(blurred_r[:, :1], n_sigmas - 1, axis=1), blurred_r], axis=1)
    keep_b = np.concatenate([power[:0:-1], np.ones(n_sigmas)])
    keep_r = np.concatenate([np.ones(n_sigmas - 1), power])
    k = _core_scale(bb[..., in_core], rr[..., in_core])
    noise = noise_b[:, None] ** 2 * keep_b + k**2 * noise_r[:, None] ** 2 * keep_r  # per pixel, each blur
    # the residual's radial profile, each ring's median over its pixels: a mismatch of the PSFs is round,
    # while a companion or an arc, on one side, is left out of the median (and so of the choice)
    residual = bb - k[..., None] * rr
    radius = np.rint(np.hypot(*(np.nonzero(fit) - np.float64(square // 2))))
    cost = np.zeros(residual.shape[:2])
    expected = spread = 0.0
    for ring in np.unique(radius):
        pixels = radius == ring
        weight = pixels.sum()
        cost += weight * np.median(residual[..., pixels], axis=-1) ** 2
        efficiency = np.pi / 2 if weight > 2 else 1.0  # the variance of a median of Gaussian noise, times n
        expected, spread = expected + efficiency, spread + 2 * efficiency**2
    cost -= expected * noise
    j = cost.argmin(axis=1)
    rows = np.arange(n)
    none = n_sigmas - 1
    # a blur must lower the residual by more than its noise could (3 sigma of the noise's own spread)
    real = cost[:, none] - cost[rows, j] > 3.0 * np.sqrt(spread) * noise[:, none]
    # between the grid's blurs: the vertex of the parabola through the best and its two neighbours
    inner = real & (j > 0) & (j < len(t) - 1)
    best_t = np.where(real, t[j], 0.0)
    jj = j[inner]
    x0, x1, x2 = t[jj - 1], t[jj], t[jj + 1]
    y0, y1, y2 = cost[inner, jj - 1], cost[inner, jj], cost[inner, jj + 1]
    curvature = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1))
    slope = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2))
    vertex = np.divide(-slope, 2 * curvature, out=x1.copy(), where=curvature * (x0 - x1) * (x0 - x2) * (x1 - x2) > 0)
    best_t[inner] = np.clip(vertex, x0, x2)
    return np.round(np.sign(best_t) * np.sqrt(np.abs(best_t)), 2)


def _core_scale(blue, red):
    """The least-squares scale ``k`` of ``red`` to ``blue`` over their last axis (the core's pixels), clipped
    to 0..2 (0 where ``red`` is 0 there): the central galaxy's colour."""
    num, den = (blue * red).sum(-1), (red * red).sum(-1)
    return np.clip(np.divide(num, den, out=np.zeros_like(num), where=den > 0), 0.0, 2.0)


def _scaled_difference(blue, red, core_pix: float):
    """``blue - k red``, ``k`` the least-squares scale over the core (:func:`_core_scale`)."""
    core = _disk(blue.shape[-2:], core_pix)
    k = _core_scale(blue[:, core].astype(np.float64), red[:, core].astype(np.float64)).astype(np.float32)
    return (blue - k[:, None, None] * red).astype(np.float32)


@lru_cache(maxsize=1024)
def _moffat_kernel(fwhm_from: float, beta_from: float, fwhm_to: float, beta_to: float, pixel_scale_arcsec: float):
    """The matching kernel of a pair of fits: photutils' exact ratio, or under a Tukey window where that one
    rings (:data:`MOFFAT_MATCH_MAX_ABS_SUM`: nearly equal fits)."""
    from lensfinder.simulation.optics import moffat_matching_kernel  # here: photutils only when used

    args = (fwhm_from, beta_from, fwhm_to, beta_to, pixel_scale_arcsec, MOFFAT_MATCH_RADIUS_ARCSEC)
    kernel = moffat_matching_kernel(*args)
    if np.abs(kernel).sum() > MOFFAT_MATCH_MAX_ABS_SUM:
        kernel = moffat_matching_kernel(*args, tukey_alpha=MOFFAT_MATCH_TUKEY_ALPHA)
    return kernel.astype(np.float32)


def _convolve(image, kernel):
    """``image`` convolved with ``kernel`` (FFT), its edges extended as ``mode="nearest"`` does."""
    from scipy.signal import fftconvolve

    r = kernel.shape[0] // 2
    return fftconvolve(np.pad(image, r, mode="edge"), kernel, mode="valid").astype(np.float32)


def moffat_match(blue, red, psf, pixel_scale_arcsec: float):
    """Blur, in place, the sharper band of each image whose ``psf`` row is finite to the other's Moffat PSF.

    ``psf``: ``(n, 4)``, each image's blue and red Moffat FWHM (arcsec) and beta,
    ``[fwhm_blue, beta_blue, fwhm_red, beta_red]`` (its tile's fits, :func:`lensfinder.simulation.tile_moffat.tile_moffat`);
    the band of the smaller FWHM is convolved with the photutils matching kernel
    (:func:`lensfinder.simulation.optics.moffat_matching_kernel`, profiles within
    :data:`MOFFAT_MATCH_RADIUS_ARCSEC`; one kernel per pair of fits, cached: a tile's stamps share theirs).
    Returns the rows matched (bool, ``(n,)``).
    """
    psf = np.asarray(psf, dtype=np.float64).reshape(len(blue), 4)
    known = np.isfinite(psf).all(axis=1) & (psf[:, [0, 2]] > 0).all(axis=1) & (psf[:, [1, 3]] > 1).all(axis=1)
    for i in np.flatnonzero(known):
        fb, bb, fr, br = (float(v) for v in psf[i])
        if fr < fb:  # red the sharper: red to blue's PSF
            red[i] = _convolve(red[i], _moffat_kernel(fr, br, fb, bb, float(pixel_scale_arcsec)))
        elif fb < fr:
            blue[i] = _convolve(blue[i], _moffat_kernel(fb, bb, fr, br, float(pixel_scale_arcsec)))
    return known


def moffat_fit_columns(bands) -> list:
    """The table columns of the bands' Moffat fits, in :func:`moffat_match`'s order: ``psf_moffat_fwhm_arcsec_{band}``
    and ``psf_moffat_beta_{band}`` of each band (blue then red for a residual's pair)."""
    return [f"{prefix}{band}" for band in bands for prefix in MOFFAT_FIT_PREFIXES]


def stamp_psfs(index, pair):
    """The Moffat fits of a residual's two bands for each row of a stamp index or image table: ``(fits (n, 4),
    pixel scale in arcsec)`` for :func:`colour_residual_band` (``psf_moffat_fwhm_arcsec_{band}`` and
    ``psf_moffat_beta_{band}``, blue then red; ``pixel_scale_arcsec``); None where the table lacks them (the
    simulations, stamps cut before the fits) or ``pair`` is empty."""
    if not pair:
        return None
    columns = moffat_fit_columns(pair)
    if not set(columns) <= set(index.columns) or "pixel_scale_arcsec" not in index.columns:
        return None
    scales = np.unique(index["pixel_scale_arcsec"].to_numpy(dtype=float))
    if len(scales) > 1:
        raise ValueError(f"pixel_scale_arcsec: {len(scales)} values in one table; expected one grid")
    fits = index[columns].to_numpy(dtype=np.float64)
    return (fits, float(scales[0]) if len(scales) else np.nan)


def colour_residual_band(cube, bands, pair, match: str = "psf", core_pix: float = COLOUR_RESIDUAL_CORE_PIX,
                         psf=None, pixel_scale_arcsec: float | None = None):
    """``blue - k red`` for each image of ``cube`` (n, n_bands, ny, nx), ``pair = (blue, red)`` among ``bands``.

    ``match``: ``psf`` first blurs the sharper of the two bands by the Gaussian :func:`match_sigmas`
    finds (the whole stamp; scipy's ``gaussian_filter`` weights, its edges extended); ``scale`` does not.
    ``k`` is then the least-squares scale of the red band to the blue band over the pixels within
    ``core_pix`` of the stamp's centre (clipped to 0..2): the central galaxy's colour. Its light
    cancels, while light of another colour (a blue arc or counter-image inside the lens light, a
    bluer or redder neighbour) stays.

    With ``psf`` (``(n, 4)``: each image's tile Moffat fits, blue then red, :func:`moffat_match`; NaN where
    a stamp has none) and ``pixel_scale_arcsec``, ``psf`` matching blurs the images with fits by the exact
    Moffat-to-Moffat kernel instead, and measures the Gaussian on the rest.

    Returns
    -------
    numpy.ndarray, float32, shape (n, ny, nx)
    """
    if match not in COLOUR_RESIDUAL_MATCHES:
        raise ValueError(f"colour_residual_match {match!r}: expected one of {', '.join(COLOUR_RESIDUAL_MATCHES)}")
    blue = np.asarray(cube[:, list(bands).index(pair[0])], dtype=np.float32)
    red = np.asarray(cube[:, list(bands).index(pair[1])], dtype=np.float32)
    if match == "psf" and len(cube) and (blue.shape[-1] % 2 == 0 or blue.shape[-2] % 2 == 0):
        # the match is measured on a square around the centre pixel: an even stamp has none, and the
        # blur found would change with the stamp's orientation
        from lensfinder.io import InputError

        raise InputError(f"colour residual (match psf): stamps of {blue.shape[-2]}x{blue.shape[-1]} pixels; "
                         "expected an odd size (the galaxy on the centre pixel, as the workflow's stamps.size), "
                         "or colour_residual_match: scale")
    if match == "psf" and len(cube):
        blue, red = blue.copy(), red.copy()
        modelled = np.zeros(len(cube), dtype=bool)
        if psf is not None:
            if pixel_scale_arcsec is None:
                raise ValueError("colour_residual_band: psf given without pixel_scale_arcsec")
            modelled = moffat_match(blue, red, psf, pixel_scale_arcsec)
        sigma = np.zeros(len(cube))
        if (~modelled).any():
            sigma[~modelled] = match_sigmas(blue[~modelled], red[~modelled], core_pix=core_pix)
        for band, rows in ((red, sigma > 0), (blue, sigma < 0)):
            if rows.any():
                band[rows] = _blur(band[rows], np.abs(sigma[rows]))
    return _scaled_difference(blue, red, core_pix)
