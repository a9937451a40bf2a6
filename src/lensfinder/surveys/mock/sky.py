"""The mock survey's observing conditions: PSF, noise, weight and the bright-star mask of one tile.

The extended light is convolved with a Moffat PSF and the stars are added
through the same PSF (:func:`noiseless_image`); the noise is Gaussian sky and
read-out noise for a 5-sigma depth in a 2" aperture plus the objects' Poisson
noise, higher on dither "chip gaps" (:func:`background_noise`,
:func:`noise_sigma_map`, :func:`add_noise`); bright stars are masked
(:func:`star_mask`).
"""

from __future__ import annotations

import numpy as np

from lensfinder.surveys.mock.render import render_components, render_stars

__all__ = ["MASK_HALO", "MASK_CORE", "psf_kernel", "noiseless_image", "background_noise", "noise_sigma_map",
           "add_noise", "star_mask"]

#: Mask bits of the mock survey's mask image and ``MASK`` column.
MASK_HALO = 2
MASK_CORE = 4


def psf_kernel(fwhm_arcsec, beta, pixel_scale_arcsec, radius_arcsec=20.0):
    """Moffat kernel sampled at pixel centres (the pre-PSF light is already pixel-binned)."""
    from lensfinder.simulation.optics import moffat_psf_kernel

    size = 2 * int(np.ceil(radius_arcsec / pixel_scale_arcsec)) + 1
    return moffat_psf_kernel(fwhm_arcsec, pixel_scale_arcsec, beta=beta, size_pix=size, supersample=1)


def noiseless_image(size_pix: int, components, star_x, star_y, star_flux, fwhm_arcsec: float, beta: float,
                    pixel_scale_arcsec: float):
    """The tile's light in counts per pixel: components through the PSF, then the stars.

    Returns
    -------
    image : ndarray of float64
        ``size_pix`` x ``size_pix``.
    rendered : ndarray
        Each component's rendered flux (counts; lensed sources after magnification).
    """
    from scipy.signal import fftconvolve

    pre = np.zeros((size_pix, size_pix), dtype=np.float64)
    rendered = render_components(pre, components, pixel_scale_arcsec)
    image = fftconvolve(pre, psf_kernel(fwhm_arcsec, beta, pixel_scale_arcsec), mode="same")
    render_stars(image, star_x, star_y, star_flux, fwhm_arcsec, beta, pixel_scale_arcsec)
    return image, rendered


def background_noise(depth_mag: float, sky_mag_arcsec2: float, read_noise_fraction: float,
                     pixel_scale_arcsec: float, zeropoint_mag: float) -> tuple[float, float]:
    """Background sigma (counts) for a 5-sigma ``depth_mag`` in a 2" diameter aperture, and the effective gain.

    The gain (electrons per count) makes the sky level ``sky_mag_arcsec2``
    give the background variance less its ``read_noise_fraction``.
    """
    n_ap = np.pi * 1.0**2 / pixel_scale_arcsec**2
    sigma_bg = 10 ** (-0.4 * (depth_mag - zeropoint_mag)) / (5.0 * np.sqrt(n_ap))
    sky_counts = 10 ** (-0.4 * (sky_mag_arcsec2 - zeropoint_mag)) * pixel_scale_arcsec**2
    gain = sky_counts / ((1.0 - read_noise_fraction) * sigma_bg**2)
    return sigma_bg, gain


def noise_sigma_map(size_pix, sigma_bg, chip_gaps: bool, rng):
    """Background sigma per pixel, with dither 'chip gaps' (one exposure of five missing)."""
    sigma = np.full((size_pix, size_pix), sigma_bg, dtype=np.float32)
    if chip_gaps:
        n_gaps = max(1, int(round(size_pix / 1000)))
        for axis in rng.integers(0, 2, n_gaps):
            width = int(rng.integers(15, 40))
            start = int(rng.integers(0, size_pix - width))
            sl = (slice(start, start + width), slice(None)) if axis == 0 else (slice(None), slice(start, start + width))
            sigma[sl] *= np.float32(np.sqrt(5.0 / 4.0))
    return sigma


def add_noise(image, sigma_map, sigma_bg: float, gain: float, rng):
    """Noisy float32 image (background plus the objects' Poisson noise) and its inverse-variance weight.

    ``gain`` (e-/count) holds where the background sigma is ``sigma_bg``, the
    full depth. A pixel of higher sigma (a chip gap: fewer exposures) has
    collected fewer electrons per count in proportion, for the objects' light
    as for the sky: its gain is ``gain (sigma_bg / sigma)^2``.
    """
    n_y, n_x = image.shape
    variance_bg = sigma_map.astype(np.float64) ** 2
    pixel_gain = gain * float(sigma_bg) ** 2 / variance_bg
    noise_sigma = np.sqrt(variance_bg + np.maximum(image, 0) / pixel_gain)
    noisy = (image + rng.standard_normal((n_y, n_x)) * noise_sigma).astype(np.float32)
    weight = (1.0 / variance_bg).astype(np.float32)
    return noisy, weight


def star_mask(size_pix, x, y, mag, star_mask_mag: float, pixel_scale_arcsec):
    """int16 mask: :data:`MASK_HALO` around each star brighter than ``star_mask_mag``, :data:`MASK_CORE` in its core."""
    mask = np.zeros((size_pix, size_pix), dtype=np.int16)
    bright = mag < star_mask_mag
    yy, xx = np.ogrid[:size_pix, :size_pix]
    for sx, sy, m in zip(x[bright], y[bright], mag[bright]):
        # halo radius: 3" at the mask limit, x1.58 per magnitude brighter
        r_halo = 3.0 * 10 ** (0.2 * (star_mask_mag - m)) / pixel_scale_arcsec
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
