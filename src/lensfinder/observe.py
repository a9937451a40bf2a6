"""Observing a noiseless sky: pixel grids, PSFs and noise, batched.

Images are in counts with a photometric zero point (``constants.MOCK_ZEROPOINT_MAG``
by default): ``counts = 10**(-0.4 (mag - zeropoint_mag))``, background
subtracted. Surface brightness maps (counts arcsec^-2) become counts per
pixel by multiplying with the pixel area.

PSF convolution of a batch uses a separable Gaussian written as two banded
(Toeplitz) matrix products, ``T @ image @ T.T``: 101 is prime, so a 101x101
FFT is slow, and two small matrix products are exact (zero padding beyond
the stamp, like ``scipy.signal.fftconvolve(mode="same")``).
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
    "toeplitz_from_kernel",
    "convolve_gaussian",
    "convolve_kernel",
    "mag_to_counts",
    "counts_to_mag",
    "snr_he2020",
    "sky_sigma_for_snr",
    "sky_sigma_for_depth",
    "noise_sigma_map",
    "add_noise",
    "standard_normal",
]

#: FWHM = 2 sqrt(2 ln 2) sigma (He et al. 2020, eq. 16 rounds it to 2.355).
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: Rows (columns) per block in the banded PSF matrix products of :func:`convolve_gaussian`.
CONVOLUTION_BLOCK = 34
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
        :mod:`lensfinder.lensing` are faster on a sparse grid).
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
    r2 = offsets[:, None] ** 2 + offsets[None, :] ** 2
    fine = (1.0 + r2 / alpha**2) ** (-beta)
    kernel = fine.reshape(size_pix, supersample, size_pix, supersample).sum(axis=(1, 3))
    return kernel / kernel.sum()


def toeplitz_from_kernel(kernel_1d, n):
    """Banded ``(n, n)`` matrix ``T[i, j] = k[i - j + r]`` for 'same'-size convolution.

    ``T @ v`` convolves ``v`` with the kernel, zero beyond the edges.
    """
    k = np.asarray(kernel_1d)
    r = (len(k) - 1) // 2
    d = np.arange(n)[:, None] - np.arange(n)[None, :] + r
    inside = (d >= 0) & (d < len(k))
    return np.where(inside, k[np.clip(d, 0, len(k) - 1)], 0.0)


def convolve_gaussian(images, fwhm_arcsec, pixel_scale_arcsec, truncation_sigma=4.0):
    """Convolve each image of a batch with its own Gaussian PSF (He et al. 2020, eq. 16).

    Parameters
    ----------
    images : ndarray, shape (n, ny, nx)
        Counts per pixel.
    fwhm_arcsec : array_like, shape (n,) or scalar
        PSF FWHM per image, arcsec.
    pixel_scale_arcsec : float
        Pixel size, arcsec.
    truncation_sigma : float
        Kernel half-width in sigma (as :func:`gaussian_kernel_1d`).

    Returns
    -------
    ndarray, same shape and dtype as ``images``.
    """
    images = np.asarray(images)
    n, ny, nx = images.shape
    fwhm = np.broadcast_to(np.asarray(fwhm_arcsec, dtype=float), (n,))
    ty = _gaussian_toeplitz(fwhm, pixel_scale_arcsec, truncation_sigma, ny, images.dtype)
    tx = ty if nx == ny else _gaussian_toeplitz(fwhm, pixel_scale_arcsec, truncation_sigma, nx, images.dtype)
    sigma_pix = float(np.max(fwhm_to_sigma(fwhm))) / pixel_scale_arcsec
    radius = max(1, int(np.ceil(truncation_sigma * sigma_pix)))
    # the kernel is symmetric (T.T == T) and banded: multiply blocks of rows
    # (columns) by the band they touch, about half the work of full products
    tmp = np.empty_like(images)
    for lo in range(0, ny, CONVOLUTION_BLOCK):
        hi = min(lo + CONVOLUTION_BLOCK, ny)
        a, b = max(0, lo - radius), min(ny, hi + radius)
        np.matmul(ty[:, lo:hi, a:b], images[:, a:b, :], out=tmp[:, lo:hi, :])
    out = np.empty_like(images)
    for lo in range(0, nx, CONVOLUTION_BLOCK):
        hi = min(lo + CONVOLUTION_BLOCK, nx)
        a, b = max(0, lo - radius), min(nx, hi + radius)
        np.matmul(tmp[:, :, a:b], tx[:, a:b, lo:hi], out=out[:, :, lo:hi])
    return out


def _gaussian_toeplitz(fwhm, pixel_scale_arcsec, truncation_sigma, size, dtype=np.float32):
    """Stack of Toeplitz matrices of :func:`gaussian_kernel_1d` kernels, shape (n, size, size).

    Matrices are cached per FWHM value (simulations draw FWHMs on a 0.001" grid).
    """
    out = np.empty((len(fwhm), size, size), dtype=dtype)
    for i, f in enumerate(np.asarray(fwhm, dtype=float)):
        out[i] = _cached_toeplitz(float(f), float(pixel_scale_arcsec), float(truncation_sigma), int(size),
                                  np.dtype(dtype).str)
    return out


@functools.lru_cache(maxsize=2048)
def _cached_toeplitz(fwhm, pixel_scale_arcsec, truncation_sigma, size, dtype):
    k = gaussian_kernel_1d(fwhm, pixel_scale_arcsec, truncation_sigma)
    t = toeplitz_from_kernel(k, size).astype(dtype)
    t.flags.writeable = False
    return t


def convolve_kernel(images, kernel):
    """Convolve a batch with one 2-D kernel (Moffat, ePSF, pixelised), 'same' size.

    ``scipy.signal.fftconvolve`` pads to a fast FFT length (101 is prime).
    """
    from scipy import signal

    images = np.asarray(images)
    kernel = np.asarray(kernel, dtype=images.dtype)
    out = signal.fftconvolve(images, kernel[None], mode="same", axes=(1, 2))
    return out.astype(images.dtype, copy=False)


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


def noise_sigma_map(images, sky_sigma, gain):
    """Per-pixel noise sigma: ``sqrt(sky_sigma^2 + max(image, 0) / gain)`` (counts)."""
    images = np.asarray(images)
    dtype = images.dtype
    sky = np.asarray(sky_sigma, dtype=dtype).reshape(-1, 1, 1)
    inv_gain = (1.0 / np.asarray(gain, dtype=float)).astype(dtype).reshape(-1, 1, 1)
    return np.sqrt(sky * sky + np.maximum(images, 0) * inv_gain)


def add_noise(images, sky_sigma, gain, rngs):
    """Add Poisson (Gaussian approximation) and Gaussian sky/read-out noise.

    Parameters
    ----------
    images : ndarray, shape (n, ny, nx)
        Noiseless images, counts.
    sky_sigma : array_like, shape (n,)
        Gaussian sky + read-out sigma per pixel, counts.
    gain : array_like, shape (n,) or scalar
        Electrons per count: the Poisson variance of a pixel is ``image / gain``
        (counts^2). ``inf`` switches the object's Poisson noise off.
    rngs : sequence of numpy.random.Generator, length n
        One generator per image, so that each image's noise can be re-created
        alone.

    Notes
    -----
    Poisson noise with mean the pixel intensity (He et al. 2020, section 3.4)
    is drawn in the Gaussian approximation, as lenstronomy's
    ``image_util.add_poisson`` does; at the counts of survey galaxies
    (hundreds of electrons per pixel) the difference is negligible.
    """
    images = np.asarray(images)
    n = len(images)
    gain = np.broadcast_to(np.asarray(gain, dtype=float), (n,))
    sigma = noise_sigma_map(images, sky_sigma, gain)
    size = int(np.prod(images.shape[1:]))
    normals = _box_muller(_uniforms(rngs, size, images.dtype))[:, :size].reshape(images.shape)
    normals *= sigma
    normals += images
    return normals


def _uniforms(rngs, size, dtype):
    """``(len(rngs), 2 ceil(size/2))`` uniforms in [0, 1), row ``i`` from ``rngs[i]``."""
    half = (size + 1) // 2
    dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    u = np.empty((len(rngs), 2 * half), dtype=dtype)
    for i, rng in enumerate(rngs):
        rng.random(out=u[i], dtype=dtype)
    return u


def _box_muller(u):
    """Box-Muller transform, in place, of uniforms ``u`` (rows of even length).

    Row ``[u1, u2]`` becomes ``[r cos(2 pi u2), r sin(2 pi u2)]`` with
    ``r = sqrt(-2 ln(1 - u1))``.
    """
    half = u.shape[1] // 2
    r = np.log1p(-u[:, :half])  # 1 - u in (0, 1]
    r *= -2
    np.sqrt(r, out=r)
    theta = u[:, half:]
    theta *= 2 * np.pi
    np.cos(theta, out=u[:, :half])
    np.sin(theta, out=theta)
    u[:, :half] *= r
    u[:, half:] *= r
    return u


def standard_normal(rng, shape, dtype=np.float32):
    """Standard normal deviates by the Box-Muller transform of ``rng.random``.

    Exact Gaussian (not an approximation), about 3x faster than
    ``Generator.standard_normal`` in float32; with float32 uniforms the
    tails end at 5.8 sigma. :func:`add_noise` draws the same numbers.
    """
    size = int(np.prod(shape))
    return _box_muller(_uniforms([rng], size, dtype))[0, :size].reshape(shape).astype(dtype, copy=False)
