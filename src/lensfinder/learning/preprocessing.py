"""Stamp preprocessing shared by training and inference (pure numpy).

Resizing (``bin2``, ``crop``, both at once: ``bin2_crop``), normalisation of each image in each band
(``minmax``, ``li2020``, ``asinh``, ``sky``) and the filling of non-finite pixels are
described in docs/learning.md; the settings, the bands among them, travel
beside the model as ``MODEL.json`` (:mod:`lensfinder.learning.sidecar`). Stamps come as ``(n, ny, nx)`` (one
band) or ``(n, n_bands, ny, nx)``; the network input is channels last,
``(n, size, size, n_channels)``: the bands, or with ``bin2_crop`` the bands
of the binned field followed by the bands of the central crop
(:func:`input_channels`). With a colour residual (``colour_residual``, e.g. g-r) the
bands gain one more: the blue band minus the red band matched to the central galaxy's
core (:mod:`lensfinder.learning.residual`), normalised and resized like a band.
"""

from __future__ import annotations

import numpy as np

from lensfinder.io import DEFAULT_BAND
from lensfinder.learning.border import MAD_TO_SIGMA, border_mask
from lensfinder.learning.residual import (
    COLOUR_RESIDUAL_CORE_PIX,
    COLOUR_RESIDUAL_MATCHES,
    colour_residual_band,
    resolve_colour_residual,
    settings_residual,
    settings_residual_match,
)

__all__ = [
    "PREPROCESS_METHODS",
    "input_channels",
    "COLOUR_RESIDUAL_CORE_PIX",
    "COLOUR_RESIDUAL_MATCHES",
    "resolve_colour_residual",
    "colour_residual_band",
    "settings_residual",
    "settings_residual_match",
    "NORMALIZATIONS",
    "resize_stamps",
    "normalize",
    "fill_nonfinite",
    "preprocess",
    "prepare_batch",
    "prepare_and_measure",
    "sky_statistics",
    "settings_bands",
]

PREPROCESS_METHODS = ("bin2", "crop", "bin2_crop")
#: Input scales per band of each resizing: ``bin2_crop`` gives the network every band twice,
#: the whole stamp binned 2x2 and its centre at full resolution (docs/learning.md).
_SCALES = {"bin2": 1, "crop": 1, "bin2_crop": 2}
NORMALIZATIONS = ("minmax", "li2020", "asinh", "sky")
#: ``sky``: S/N units clipped to this range, then divided by its top (docs/learning.md)
SKY_CLIP = (-3.0, 30.0)


def input_channels(n_bands: int, method: str, colour_residual=()) -> int:
    """Network input channels for ``n_bands`` bands resized by ``method`` (and a colour residual band when
    ``colour_residual`` names its two bands)."""
    if method not in PREPROCESS_METHODS:
        raise ValueError(f"preprocess {method!r}: expected one of {', '.join(PREPROCESS_METHODS)}")
    return (int(n_bands) + (1 if colour_residual else 0)) * _SCALES[method]


def _with_residual(x, settings: dict, psf=None):
    """Filled ``(n, n_bands, ny, nx)`` stamps with the settings' colour residual band appended (if any);
    ``psf``: the stamps' Moffat fits and pixel scale (:func:`lensfinder.learning.residual.stamp_psfs`)."""
    pair = settings_residual(settings)
    if not pair:
        return x
    fits, scale = psf if psf is not None else (None, None)
    band = colour_residual_band(x, settings_bands(settings), pair, settings_residual_match(settings),
                                psf=fits, pixel_scale_arcsec=scale)
    return np.concatenate([x, band[:, None]], axis=1)


def resize_stamps(images, input_size: int, method: str = "bin2"):
    """Bring ``(..., ny, nx)`` stamps to ``(..., input_size, input_size)``.

    ``bin2_crop`` returns both scales along the band axis: ``(n, 2, size, size)``
    for ``(n, ny, nx)`` stamps, ``(n, 2 * n_bands, size, size)`` for
    ``(n, n_bands, ny, nx)``, the binned bands first.

    Parameters
    ----------
    images : array_like, shape (n, ny, nx) or (n, n_bands, ny, nx)
        Square stamps in counts.
    input_size : int
        Network input size in pixels.
    method : {"bin2", "crop", "bin2_crop"}
        See docs/learning.md.

    Returns
    -------
    numpy.ndarray, float32
    """
    images = np.asarray(images, dtype=np.float32)
    if method not in PREPROCESS_METHODS:
        raise ValueError(f"preprocess {method!r}: expected one of {', '.join(PREPROCESS_METHODS)}")
    ny, nx = images.shape[-2:]
    if ny != nx:
        raise ValueError(f"stamps must be square, got {ny}x{nx}")
    if method == "bin2_crop":
        cube = images[:, np.newaxis] if images.ndim == 3 else images
        return np.concatenate([resize_stamps(cube, input_size, "bin2"), resize_stamps(cube, input_size, "crop")],
                              axis=-3)
    if ny == input_size:
        return images
    if ny < input_size:
        raise ValueError(f"stamps of {ny}x{nx} are smaller than the network input {input_size}x{input_size}")
    if method == "crop":
        lo = (ny - input_size) // 2
        return images[..., lo:lo + input_size, lo:lo + input_size]
    size = 2 * input_size
    if ny < size:
        raise ValueError(f"bin2 needs stamps of at least {size}x{size} for a {input_size}x{input_size} input, got {ny}x{nx}")
    lo = (ny - size) // 2
    crop = images[..., lo:lo + size, lo:lo + size]
    # pairs of rows, then pairs of columns: ~10x faster than reshape(...).mean(axis=(2, 4))
    rows = crop[..., 0::2, :] + crop[..., 1::2, :]
    total = rows[..., 0::2] + rows[..., 1::2]
    total *= np.float32(0.25)
    return total


def normalize(images, method: str = "minmax", sky=None):
    """Normalisation of each image, and of each band of it, over its pixels (docs/learning.md).

    ``images`` is ``(n, ny, nx)`` or ``(n, n_bands, ny, nx)``: the statistics
    are those of one band of one image (the last two axes), so a faint g band
    is stretched like a bright i band. ``sky``: ``(median, sigma)`` already
    measured (:func:`sky_statistics`), each ``images.shape[:-2] + (1, 1)``;
    by default measured on ``images``. The other methods ignore it.

    Returns
    -------
    numpy.ndarray, float32, same shape
    """
    x = np.asarray(images, dtype=np.float32)
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalization {method!r}: expected one of {', '.join(NORMALIZATIONS)}")
    if x.shape[0] == 0:
        return x.copy()
    if method == "sky":
        median, sigma = _border_sky(x) if sky is None else sky
        z = (x - median) / sigma
        return (np.clip(z, *SKY_CLIP) / np.float32(SKY_CLIP[1])).astype(np.float32)
    if method in ("minmax", "li2020"):
        lo = x.min(axis=(-2, -1), keepdims=True)
        span = x.max(axis=(-2, -1), keepdims=True) - lo
        top = np.float32(255.0 if method == "li2020" else 1.0)
        scale = np.divide(top, span, out=np.zeros_like(span), where=span > 0)
        out = x - lo
        out *= scale
        return out
    median = np.median(x, axis=(-2, -1), keepdims=True)
    mad = np.median(np.abs(x - median), axis=(-2, -1), keepdims=True)
    sigma = np.float32(MAD_TO_SIGMA) * mad
    sigma = np.where(sigma > 0, sigma, np.float32(1.0))
    return np.arcsinh((x - median) / sigma).astype(np.float32)


def _border_sky(x):
    """Median and MAD-sigma of the border pixels of each image (and band): the sky and its noise,
    away from the central galaxy; sigma 0 (a constant image) gives 1."""
    border = x[..., border_mask(x.shape[-2:])]
    median = np.median(border, axis=-1)[..., None, None]
    mad = np.median(np.abs(border - median[..., 0]), axis=-1)[..., None, None]
    sigma = np.float32(MAD_TO_SIGMA) * mad
    return median, np.where(sigma > 0, sigma, np.float32(1.0)).astype(np.float32)


def fill_nonfinite(images):
    """Set NaN/inf pixels to 0 (the sky of a background-subtracted stamp).

    Returns
    -------
    images : numpy.ndarray, float32
        A copy when anything was replaced, otherwise the input as float32.
    fraction : numpy.ndarray, shape (n,)
        Fraction of non-finite pixels per image (all its bands together).
    """
    x = np.asarray(images, dtype=np.float32)
    bad = ~np.isfinite(x)
    fraction = bad.reshape(len(x), -1).mean(axis=1) if x.size else np.zeros(len(x))
    if bad.any():
        x = np.where(bad, np.float32(0.0), x)
    return x, fraction


def _band_cube(stamps, settings: dict):
    """Stamps as float32 ``(n, n_bands, ny, nx)``, their band count checked against the settings."""
    stamps = np.asarray(stamps, dtype=np.float32)
    cube = stamps[:, np.newaxis] if stamps.ndim == 3 else stamps
    n_bands = len(settings_bands(settings))
    if cube.ndim != 4 or cube.shape[1] != n_bands:
        raise ValueError(f"stamps of shape {stamps.shape}: the network takes {n_bands} band(s) "
                         f"({','.join(settings_bands(settings))})")
    return cube


def _channels_last(x):
    """``(n, n_bands, size, size)`` -> the network's ``(n, size, size, n_bands)``, contiguous."""
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def _to_input(stamps, settings: dict, sky=None):
    """Resize and normalise ``(n, n_bands, ny, nx)`` stamps -> ``(n, n_channels, size, size)``.

    ``bin2_crop``: the binned field is normalised by itself, as ``bin2``; the
    central crop is normalised over the whole full-resolution stamp (its own
    border would lie on the galaxy), then cut out. ``sky``: the
    :func:`sky_statistics` of these stamps, if already known.
    """
    size, method, norm = int(settings["input_shape"][0]), settings["preprocess"], settings["normalization"]
    if method != "bin2_crop":
        return normalize(resize_stamps(stamps, size, method), norm, sky and sky[0])
    binned = normalize(resize_stamps(stamps, size, "bin2"), norm, sky and sky[0])
    if norm == "sky":  # per-image statistics of the whole stamp, applied to the crop alone: the same pixels
        whole = sky[1] if sky else _border_sky(stamps)
        return np.concatenate([binned, normalize(resize_stamps(stamps, size, "crop"), norm, whole)], axis=1)
    return np.concatenate([binned, resize_stamps(normalize(stamps, norm), size, "crop")], axis=1)


def sky_statistics(stamps, settings: dict):
    """The border sky level and noise that ``sky`` normalisation measures on these stamps.

    Training reads every image once per epoch; its stream keeps these per
    image and passes them back to :func:`prepare_batch`, which then skips the
    medians (about half of the input pipeline's time).

    Returns
    -------
    tuple of (median, sigma)
        One pair per normalised scale (``bin2_crop``: the binned field, then
        the whole full-resolution stamp), each ``(n, n_bands, 1, 1)`` float32
        (``n_bands`` counting the colour residual band, if any).
    """
    return _planes_sky(_with_residual(fill_nonfinite(_band_cube(stamps, settings))[0], settings), settings)


def _planes_sky(planes, settings: dict):
    """:func:`sky_statistics` of filled planes (the bands and the colour residual, if any)."""
    size, method = int(settings["input_shape"][0]), settings["preprocess"]
    if method == "bin2_crop":
        return _border_sky(resize_stamps(planes, size, "bin2")), _border_sky(planes)
    return (_border_sky(resize_stamps(planes, size, method)),)


def _fills_first(settings: dict) -> bool:
    """Whether preparing reads the whole stamp (``bin2_crop``'s full-resolution scale, the colour residual's
    match and scale), so that its non-finite pixels are filled before anything else; otherwise
    :func:`prepare_batch` resizes first and fills only the stamps whose network field holds any."""
    return settings["preprocess"] == "bin2_crop" or bool(settings_residual(settings))


def prepare_and_measure(stamps, settings: dict, psf=None):
    """:func:`prepare_batch` and :func:`sky_statistics` of the same stamps at once: ``(input, non-finite
    fraction, sky)``, the same three as the two functions give, with the colour residual (and the stamps'
    filling) computed once; ``psf`` as :func:`prepare_batch` takes it. A training's stream calls it on an
    image's first read."""
    stamps = _band_cube(stamps, settings)
    if _fills_first(settings):
        filled, fraction = fill_nonfinite(stamps)
        planes = _with_residual(filled, settings, psf)
        sky = _planes_sky(planes, settings)
        return _channels_last(_to_input(planes, settings, sky)), fraction, sky
    sky = sky_statistics(stamps, settings)
    return (*prepare_batch(stamps, settings, sky, psf=psf), sky)


def prepare_batch(stamps, settings: dict, sky=None, psf=None):
    """Stamps in counts -> ``(network input (n, size, size, n_channels), non-finite fraction (n,))``.

    ``stamps`` is ``(n, ny, nx)`` for one band or ``(n, n_bands, ny, nx)``,
    in the bands of the settings (:func:`lensfinder.io.select_bands` picks
    them from a cube). The fast path resizes first (NaN/inf propagate into
    the resized pixels) and checks only the small images; the rare stamps
    with non-finite pixels in the network's field are then filled
    (:func:`fill_nonfinite`) and resized again. Their fraction counts the
    whole stamp, every band; pixels that ``crop`` discards do not make a
    stamp count. ``sky``: these stamps' :func:`sky_statistics`, if already
    known (``sky`` normalisation only; the result is the same). ``psf``: these stamps' Moffat fits for the
    colour residual's match (:func:`lensfinder.learning.residual.stamp_psfs`; None: measured on each stamp).
    """
    stamps = _band_cube(stamps, settings)
    size, method = int(settings["input_shape"][0]), settings["preprocess"]
    if _fills_first(settings):
        x, fraction = fill_nonfinite(stamps)
        return _channels_last(_to_input(_with_residual(x, settings, psf), settings, sky)), fraction
    x = resize_stamps(stamps, size, method)
    if np.may_share_memory(x, stamps):
        x = x.copy()
    fraction = np.zeros(len(stamps))
    bad = ~np.isfinite(x).all(axis=(1, 2, 3)) if len(x) else np.zeros(0, bool)
    if bad.any():
        filled, fraction[bad] = fill_nonfinite(stamps[bad])
        x[bad] = resize_stamps(filled, size, method)
    return _channels_last(normalize(x, settings["normalization"], sky and sky[0])), fraction


def preprocess(images, settings: dict):
    """Stamps in counts -> network input ``(n, size, size, n_channels)`` float32 (:func:`input_channels`).

    Non-finite pixels are set to 0 first (:func:`fill_nonfinite`); callers
    that must count them call that function themselves.
    """
    x, _ = fill_nonfinite(_band_cube(images, settings))
    return _channels_last(_to_input(_with_residual(x, settings), settings))


def settings_bands(settings: dict) -> tuple:
    """The bands a model takes, in channel order (r for a sidecar written before bands were recorded)."""
    return tuple(settings.get("bands") or (DEFAULT_BAND,))
