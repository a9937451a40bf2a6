"""Observing a noiseless sky: pixel grids, PSFs and noise, batched.

Images are in counts with a photometric zero point (``constants.MOCK_ZEROPOINT_MAG``
by default): ``counts = 10**(-0.4 (mag - zeropoint_mag))``, background
subtracted. Surface brightness maps (counts arcsec^-2) become counts per
pixel by multiplying with the pixel area.

A Gaussian PSF is convolved separably (two 1-D passes, zero padding beyond
the stamp like ``scipy.signal.fftconvolve(mode="same")``): 101 is prime, so
a 101x101 FFT is slow. The batch convolution and the noise run in the
compiled kernels of :mod:`lensfinder.simulation.compiled` (imported when first used).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "pixel_grid",
    "fwhm_to_sigma",
    "gaussian_kernel_1d",
    "gaussian_psf_kernel",
    "moffat_psf_kernel",
    "moffat_matching_kernel",
    "convolve_gaussian",
    "gaussian_taps",
    "convolve_kernel",
    "convolve_moffat",
    "moffat_kernel_cached",
    "mag_to_counts",
    "counts_to_mag",
    "snr_he2020",
    "sky_sigma_for_snr",
    "sky_sigma_for_depth",
    "add_noise",
    "noise_arguments",
]

#: FWHM = 2 sqrt(2 ln 2) sigma (He et al. 2020, eq. 16 rounds it to 2.355).
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: He et al. 2020, eq. 17: S/N(mag) = a exp(b mag) for mag < 23, else 15.
HE2020_SNR_A = 1.796e9
HE2020_SNR_B = -0.8079
HE2020_SNR_MAG_BREAK = 23.0
HE2020_SNR_FAINT = 15.0


def pixel_grid(stamp_size, pixel_scale_arcsec, dtype=np.float32, sparse=False):
    """Pixel-centre coordinates of a square stamp, arcsec.

    The stamp centre (pixel ``(n-1)/2``) is the origin; ``x`` grows with the
    column index and ``y`` with the row index (``image[row, col]``).

    Returns
    -------
    x, y : ndarray
        Shape ``(stamp_size, stamp_size)``, or ``(1, n)`` and ``(n, 1)`` with
        ``sparse=True`` (broadcasting gives the full grid; the profiles in
        :mod:`lensfinder.simulation.lensing` are faster on a sparse grid).
    """
    offsets = (np.arange(stamp_size, dtype=np.float64) - (stamp_size - 1) / 2.0) * pixel_scale_arcsec
    y, x = np.meshgrid(offsets, offsets, indexing="ij", sparse=sparse)
    return x.astype(dtype), y.astype(dtype)


def fwhm_to_sigma(fwhm):
    """Gaussian sigma from FWHM (same units)."""
    return np.asarray(fwhm, dtype=float) / FWHM_PER_SIGMA


def gaussian_kernel_1d(fwhm_arcsec, pixel_scale_arcsec, truncation_sigma=4.0, radius_pix=None):
    """Normalised 1-D Gaussian sampled at pixel centres (He et al. 2020, eq. 16).

    The 2-D kernel ``outer(k, k)`` equals a circular Gaussian sampled at pixel
    centres and normalised to unit sum (lenstronomy's ``kernel_gaussian``).

    Parameters
    ----------
    fwhm_arcsec : float
        PSF full width at half maximum, arcsec.
    pixel_scale_arcsec : float
        Pixel size, arcsec.
    truncation_sigma : float
        Kernel half-width in units of sigma (ignored when ``radius_pix`` given).
    radius_pix : int, optional
        Kernel half-width in pixels.

    Returns
    -------
    ndarray, shape (2 radius + 1,), float64, sum 1.
    """
    sigma_pix = float(fwhm_to_sigma(fwhm_arcsec)) / pixel_scale_arcsec
    if radius_pix is None:
        radius_pix = max(1, int(np.ceil(truncation_sigma * sigma_pix)))
    t = np.arange(-radius_pix, radius_pix + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma_pix) ** 2)
    return k / k.sum()


def gaussian_psf_kernel(fwhm_arcsec, pixel_scale_arcsec, truncation_sigma=4.0):
    """2-D Gaussian PSF kernel, ``outer(k, k)`` of :func:`gaussian_kernel_1d`."""
    k = gaussian_kernel_1d(fwhm_arcsec, pixel_scale_arcsec, truncation_sigma)
    return np.outer(k, k)


def moffat_psf_kernel(fwhm_arcsec, pixel_scale_arcsec, beta=4.765, size_pix=None, supersample=5):
    """Circular Moffat PSF kernel, pixel-integrated by supersampling, unit sum.

    ``I(r) = (1 + (r/alpha)^2)^-beta`` with ``alpha = FWHM / (2 sqrt(2^(1/beta) - 1))``.
    The default ``beta = 4.765`` is the Trujillo et al. (2001) value for
    ground-based seeing.
    """
    alpha = fwhm_arcsec / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    if size_pix is None:
        size_pix = 2 * int(np.ceil(3.0 * fwhm_arcsec / pixel_scale_arcsec)) + 1
    n = size_pix * supersample
    offsets = (np.arange(n) - (n - 1) / 2.0) * pixel_scale_arcsec / supersample
    # The offsets are symmetric bit for bit (integers or half-integers times one factor), so the
    # profile is evaluated on one quadrant and mirrored: the same numbers for a quarter of the powers
    # (a simulation draws a kernel per Moffat image and band).
    half = offsets[n // 2:] ** 2
    index = np.arange(n)
    mirror = np.maximum(index, n - 1 - index) - n // 2
    fine = ((1.0 + (half[:, None] + half[None, :]) / alpha**2) ** (-beta)).take(mirror, 0).take(mirror, 1)
    kernel = fine.reshape(size_pix, supersample, size_pix, supersample).sum(axis=(1, 3))
    return kernel / kernel.sum()


def moffat_matching_kernel(fwhm_from, beta_from, fwhm_to, beta_to, pixel_scale_arcsec, radius_arcsec=4.0,
                           tukey_alpha=None):
    """The kernel that takes a Moffat PSF to a broader one: photutils' matching kernel (the ratio of their
    Fourier transforms) between the two profiles sampled at pixel centres within ``radius_arcsec``; with
    no window, or photutils' ``TukeyWindow(tukey_alpha)`` over it, which damps the high frequencies where
    both transforms are near zero and their ratio is noise (two nearly equal PSFs: the colour residual's
    guard, :func:`lensfinder.learning.residual.moffat_match`). The mock survey's matched photometry brings
    its bands to a common PSF with it, unwindowed; the colour residual matches two bands' PSFs with it
    where a stamp carries its tile's Moffat fits."""
    try:
        from photutils.psf_matching import TukeyWindow
        from photutils.psf_matching import make_kernel
    except ImportError:  # photutils < 3.0
        from photutils.psf.matching import TukeyWindow
        from photutils.psf.matching import create_matching_kernel as make_kernel

    size = 2 * int(np.ceil(radius_arcsec / pixel_scale_arcsec)) + 1
    src = moffat_psf_kernel(fwhm_from, pixel_scale_arcsec, beta=beta_from, size_pix=size, supersample=1)
    dst = moffat_psf_kernel(fwhm_to, pixel_scale_arcsec, beta=beta_to, size_pix=size, supersample=1)
    window = None if tukey_alpha is None else TukeyWindow(alpha=float(tukey_alpha))
    return make_kernel(src / src.sum(), dst / dst.sum(), window=window)


def convolve_gaussian(images, fwhm_arcsec, pixel_scale_arcsec, truncation_sigma=4.0, out=None):
    """Convolve each image of a batch with its own Gaussian PSF (He et al. 2020, eq. 16).

    Parameters
    ----------
    images : ndarray, shape (n, ny, nx)
        Counts per pixel (computed in float32).
    fwhm_arcsec : array_like, shape (n,) or scalar
        PSF FWHM per image, arcsec.
    pixel_scale_arcsec : float
        Pixel size, arcsec.
    truncation_sigma : float
        Kernel half-width in sigma (as :func:`gaussian_kernel_1d`).
    out : ndarray, optional
        float32 array of the shape of ``images`` for the result.

    Returns
    -------
    ndarray, float32, shape of ``images``.
    """
    from lensfinder.simulation.compiled import convolve_separable

    images = np.ascontiguousarray(images, dtype=np.float32)
    n, ny, nx = images.shape
    taps = gaussian_taps(np.broadcast_to(np.asarray(fwhm_arcsec, dtype=float), (n,)), pixel_scale_arcsec,
                         truncation_sigma)
    if out is None:
        out = np.empty_like(images)
    convolve_separable(images.reshape(n, ny * nx), taps, out.reshape(n, ny * nx), ny, nx)
    return out


def gaussian_taps(fwhm_arcsec, pixel_scale_arcsec, truncation_sigma=4.0):
    """float32 1-D Gaussian kernels (:func:`gaussian_kernel_1d`), one row per FWHM,
    each centred and zero-padded to the widest: shape (n, 2 r_max + 1)."""
    fwhm = np.asarray(fwhm_arcsec, dtype=float).reshape(-1)
    radii = np.maximum(1, np.ceil(truncation_sigma * fwhm_to_sigma(fwhm) / pixel_scale_arcsec).astype(int))
    radius = int(radii.max(initial=1))
    taps = np.zeros((len(fwhm), 2 * radius + 1), dtype=np.float32)
    for i, (f, r) in enumerate(zip(fwhm, radii)):
        taps[i, radius - r:radius + r + 1] = _gaussian_taps(float(f), float(pixel_scale_arcsec), int(r))
    return taps


@functools.lru_cache(maxsize=4096)
def _gaussian_taps(fwhm, pixel_scale_arcsec, radius):
    """float32 taps of :func:`gaussian_kernel_1d` (cached: simulations draw FWHMs on a 0.001" grid)."""
    taps = gaussian_kernel_1d(fwhm, pixel_scale_arcsec, radius_pix=radius).astype(np.float32)
    taps.flags.writeable = False
    return taps


def convolve_kernel(images, kernel):
    """Convolve a batch with one 2-D kernel (Moffat, ePSF, pixelised), 'same' size.

    ``scipy.signal.fftconvolve`` pads to a fast FFT length (101 is prime).
    """
    from scipy import signal

    images = np.asarray(images)
    kernel = np.asarray(kernel, dtype=images.dtype)
    out = signal.fftconvolve(images, kernel[None], mode="same", axes=(1, 2))
    return out.astype(images.dtype, copy=False)


def convolve_moffat(images, fwhm_arcsec, beta, radius_arcsec, pixel_scale_arcsec):
    """Convolve a batch of images (k, n, n) with one Moffat PSF (:func:`moffat_psf_kernel` of
    half-width ``radius_arcsec``), 'same' size, by FFT: a circular convolution on a grid of at least
    n + radius pixels (no wrap into the stamp) with the kernel's spectrum cached per
    (FWHM, beta, radius, pixel scale, n). float32."""
    from scipy import fft

    n = images.shape[-1]
    spectrum = _moffat_spectrum(float(fwhm_arcsec), float(beta), float(radius_arcsec), float(pixel_scale_arcsec), n)
    size = spectrum.shape[0]
    out = fft.irfft2(fft.rfft2(np.asarray(images, dtype=np.float32), s=(size, size), workers=1) * spectrum,
                     s=(size, size), workers=1)
    return np.ascontiguousarray(out[..., :n, :n], dtype=np.float32)


@functools.lru_cache(maxsize=1024)
def moffat_kernel_cached(fwhm_arcsec, beta, radius_arcsec, pixel_scale_arcsec):
    """float32 :func:`moffat_psf_kernel` of half-width ``radius_arcsec`` (cached: FWHM and beta are drawn on grids)."""
    size = 2 * int(np.ceil(radius_arcsec / pixel_scale_arcsec)) + 1
    return moffat_psf_kernel(fwhm_arcsec, pixel_scale_arcsec, beta=beta, size_pix=size).astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _moffat_spectrum(fwhm, beta, radius_arcsec, pixel_scale, n):
    """rfft2 of the Moffat kernel centred on pixel (0, 0) of the convolution grid (33 KB for 101 pixels)."""
    from scipy import fft

    kernel = moffat_kernel_cached(fwhm, beta, radius_arcsec, pixel_scale)
    r = kernel.shape[0] // 2
    size = fft.next_fast_len(n + r, real=True)
    padded = np.zeros((size, size), dtype=np.float32)
    padded[:2 * r + 1, :2 * r + 1] = kernel
    return fft.rfft2(np.roll(padded, (-r, -r), axis=(0, 1)), workers=1)


def mag_to_counts(mag, zeropoint_mag):
    """Total counts of a source of magnitude ``mag``."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - zeropoint_mag))


def counts_to_mag(counts, zeropoint_mag):
    """Magnitude of ``counts`` total counts."""
    return zeropoint_mag - 2.5 * np.log10(np.asarray(counts, dtype=float))


def snr_he2020(mag):
    """S/N of a galaxy of r magnitude ``mag`` in KiDS DR3 (He et al. 2020, eq. 17)."""
    mag = np.asarray(mag, dtype=float)
    return np.where(mag < HE2020_SNR_MAG_BREAK, HE2020_SNR_A * np.exp(HE2020_SNR_B * mag), HE2020_SNR_FAINT)


def sky_sigma_for_snr(signal_counts, n_pixels, snr, gain=np.inf, floor=1e-3):
    """Per-pixel Gaussian (sky + read-out) sigma giving a galaxy the wanted S/N.

    ``S/N = F / sqrt(F / gain + N sigma^2)`` with ``F`` the galaxy counts in an
    aperture of ``N`` pixels; solved for ``sigma`` (counts), floored at ``floor``
    when the object's own Poisson noise already exceeds the budget.
    """
    f = np.asarray(signal_counts, dtype=float)
    var = (f / np.asarray(snr, dtype=float)) ** 2 - f / gain
    return np.sqrt(np.maximum(var / np.asarray(n_pixels, dtype=float), floor**2))


def sky_sigma_for_depth(depth_mag_5sigma, zeropoint_mag, pixel_scale_arcsec, aperture_diameter_arcsec=2.0):
    """Per-pixel sky sigma (counts) of a survey with a 5-sigma point-source depth.

    A source of ``depth_mag_5sigma`` has S/N 5 in a circular aperture of
    ``aperture_diameter_arcsec`` (sky-limited).
    """
    n_ap = np.pi * (aperture_diameter_arcsec / 2.0) ** 2 / pixel_scale_arcsec**2
    return mag_to_counts(depth_mag_5sigma, zeropoint_mag) / (5.0 * np.sqrt(n_ap))


def add_noise(images, sky_sigma, gain, seeds, noisy=None):
    """Add Poisson (Gaussian approximation) and Gaussian sky/read-out noise, in place.

    Parameters
    ----------
    images : ndarray, float32, shape (n, ny, nx), C-contiguous
        Noiseless images, counts; overwritten with the noisy ones.
    sky_sigma : array_like, shape (n,)
        Gaussian sky + read-out sigma per pixel, counts.
    gain : array_like, shape (n,) or scalar
        Electrons per count: the Poisson variance of a pixel is ``image / gain``
        (counts^2). ``inf`` switches the object's Poisson noise off.
    seeds : array_like of uint64, shape (n,)
        The noise seed of each image (``image_seed``): the noise of an image
        depends on its seed alone (:func:`lensfinder.simulation.compiled.add_noise`).
    noisy : array_like of bool, shape (n,), optional
        ``False`` leaves an image noiseless.

    Returns
    -------
    ndarray
        ``images``.

    Notes
    -----
    Poisson noise with mean the pixel intensity (He et al. 2020, section 3.4)
    is drawn in the Gaussian approximation, as lenstronomy's
    ``image_util.add_poisson`` does; at the counts of survey galaxies
    (hundreds of electrons per pixel) the difference is negligible.
    """
    from lensfinder.simulation.compiled import add_noise as _add_noise

    if images.dtype != np.float32 or not images.flags.c_contiguous or images.ndim != 3:
        raise TypeError("add_noise: images must be a C-contiguous float32 array of shape (n, ny, nx)")
    n = len(images)
    _add_noise(images.reshape(n, -1), *noise_arguments(n, sky_sigma, gain, seeds, noisy))
    return images


def noise_arguments(n, sky_sigma, gain, seeds, noisy=None):
    """The per-image arrays of :func:`lensfinder.simulation.compiled.add_noise`:
    ``sky_sigma``, ``inv_gain`` (float32), ``seeds`` (uint64), ``noisy`` (bool)."""
    gain = np.broadcast_to(np.asarray(gain, dtype=float), (n,))
    with np.errstate(divide="ignore"):
        inv_gain = np.where(np.isfinite(gain), 1.0 / gain, 0.0).astype(np.float32)
    sky = np.broadcast_to(np.asarray(sky_sigma, dtype=np.float32), (n,)).copy()
    seeds = np.broadcast_to(np.asarray(seeds, dtype=np.uint64), (n,)).copy()
    noisy = np.ones(n, dtype=bool) if noisy is None else np.broadcast_to(np.asarray(noisy, dtype=bool), (n,)).copy()
    return sky, inv_gain, seeds, noisy
