"""Compiled float32 kernels of the simulator's hot path (numba): light, lensing, PSF, noise.

One pass per image computes the unlensed light, the deflection (SIE + shear
+ SIS subhaloes + an optional precomputed field), the lensed light and
point-like blobs (knots, stars, lensed quasar images), in the conventions of
:mod:`lensfinder.simulation.lensing` (the float64 reference the tests compare
with). The Sersic profiles and their central supersampling are
:mod:`lensfinder.simulation.compiled_sersic`'s; the separable Gaussian PSF, the noise (a counter-based stream keyed
by ``image_seed``) and the arc S/N come from
:mod:`lensfinder.simulation.compiled_optics`. Design and reproducibility: ``docs/simulation.md``. This
module imports numba; only the rendering functions import it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lensfinder.simulation.compiled_optics import (
    add_noise,
    convolve_buffers,
    convolve_one,
    convolve_separable,
    convolved_arc_snr,
    noise_one,
    solve_arc_scale,
    standard_normals,
)
from lensfinder.simulation.compiled_sersic import add_sersic, add_sersic_lensed, supersample
from lensfinder.simulation.fastmath import atan_ratio32, fma, log32

#: sha256 of the sources of the kernel modules (``compiled``, ``compiled_optics``, ``compiled_sersic``,
#: ``fastmath``; these lines left out). numba caches a kernel by the contents of its own file alone, so a
#: change in a module it calls would leave the cached kernel stale: each caching module carries this line,
#: and tests/simulation/test_kernels.py fails, printing the new value, until it is updated in all three.
KERNEL_SOURCES_SHA256 = "50c75e981e98e641520a5c19302b7aa619e2fa9b5eb18c73c783dfd778320e5f"

__all__ = ["render_light", "render_light_parts", "render_batch", "arc_scales", "convolve_separable", "add_noise",
           "standard_normals"]

_F = np.float32
_ZERO, _ONE, _HALF = _F(0.0), _F(1.0), _F(0.5)


@njit(inline="always", error_model="numpy")
def _axis_weights(w, lo, c, sigma, scale, n):
    """Fractions of a unit Gaussian (centre ``c``, ``sigma``, arcsec) in the pixels
    ``lo .. lo + len(w) - 1`` of an axis whose pixel 0 is centred at 0 (offsets
    from the grid origin): ``sigma > 0`` integrates over each pixel (erf);
    ``sigma = 0`` shares a point linearly between its two nearest pixel centres
    (lenstronomy's point sources, interpolation order 1)."""
    for k in range(w.shape[0]):
        w[k] = 0.0
    if sigma > 0.0:
        inv = 1.0 / (math.sqrt(2.0) * sigma)
        prev = math.erf(((lo - 0.5) * scale - c) * inv)
        for k in range(w.shape[0]):
            nxt = math.erf(((lo + k + 0.5) * scale - c) * inv)
            w[k] = 0.5 * (nxt - prev)
            prev = nxt
    else:
        f = c / scale
        i0 = int(math.floor(f))
        d = f - i0
        if 0 <= i0 - lo < w.shape[0]:
            w[i0 - lo] = 1.0 - d
        if 0 <= i0 + 1 - lo < w.shape[0]:
            w[i0 + 1 - lo] = d
    for k in range(w.shape[0]):  # pixels beyond the stamp take nothing
        if lo + k < 0 or lo + k >= n:
            w[k] = 0.0


@njit(inline="always", error_model="numpy")
def _add_blob(img, lensed_light, record, n, x0, scale, b, wx, wy):
    """Add one blob ``b = (amp counts, center_x, center_y, sigma arcsec, lensed)``
    to the flat ``img`` (n x n; ``x0``: the arcsec offset of pixel 0), on a window of
    +-(5 sigma + 2) pixels; lensed blobs also go to ``lensed_light`` when ``record``."""
    amp, sigma = np.float64(b[0]), np.float64(b[3])
    cx, cy = np.float64(b[1]) - x0, np.float64(b[2]) - x0
    half = int(math.ceil(5.0 * sigma / scale)) + 2
    ix = int(math.floor(cx / scale + 0.5)) - half
    iy = int(math.floor(cy / scale + 0.5)) - half
    w = 2 * half + 1
    _axis_weights(wx[:w], ix, cx, sigma, scale, n)
    _axis_weights(wy[:w], iy, cy, sigma, scale, n)
    both = record and b[4] != _ZERO
    for j in range(w):
        if wy[j] == 0.0:
            continue
        for k in range(w):
            if wx[k] == 0.0:
                continue
            v = _F(amp * wy[j] * wx[k])
            p = (iy + j) * n + ix + k
            img[p] += v
            if both:
                lensed_light[p] += v


@njit(cache=True, error_model="numpy")
def render_light(out, xg, yg, unlensed, sie, shear, subhalo, lensed, extra_deflection, extra_index, scale,
                 ss_factor, ss_radius, ss_levels):
    """Noiseless, unconvolved images of a batch, written into ``out`` (Sersic light only).

    Parameters
    ----------
    out : float32 (B, n, n)
        Output (overwritten).
    xg, yg : float32 (n,)
        Pixel-centre coordinates (arcsec) of the columns and rows.
    unlensed : float32 (B, K, 9)
        Sersic coefficients (:func:`lensfinder.simulation.lensing.sersic_coefficients`)
        of the unlensed components; amplitude 0 skips one.
    sie : float32 (B, 12)
        :func:`lensfinder.simulation.lensing.sie_coefficients` per image.
    shear : float32 (B, 2)
        ``gamma1, gamma2`` about the origin.
    subhalo : float32 (B, S, 3)
        SIS ``theta_E, center_x, center_y``; ``theta_E = 0`` skips one.
    lensed : float32 (B, L, 9)
        Sersic coefficients of the lensed components (source, clumps).
    extra_deflection : float32 (M, 2, n, n)
        Precomputed deflection fields added to the lens model.
    extra_index : int64 (B,)
        Row of ``extra_deflection`` for each image, -1 for none.
    scale : float
        Pixel scale, arcsec.
    ss_factor, ss_radius, ss_levels : int
        Central supersampling of the unlensed components: sub-pixels per
        axis (1: off), the patch's half-width in pixels, and the nested
        refinements of the sub-pixel that holds each centre (0: none).
    """
    blobs = np.zeros((out.shape[0], 0, 5), dtype=np.float32)
    render_light_parts(out, out[:0], xg, yg, unlensed, sie, shear, subhalo, lensed, blobs, extra_deflection,
                       extra_index, scale, ss_factor, ss_radius, ss_levels)


@njit(cache=True, error_model="numpy")
def render_light_parts(out, lensed_out, xg, yg, unlensed, sie, shear, subhalo, lensed, blobs, extra_deflection,
                       extra_index, scale, ss_factor, ss_radius, ss_levels):
    """:func:`render_light` with blobs, and the lensed light alone in ``lensed_out``.

    ``blobs``: float32 (B, M, 5), rows ``(amp counts, center_x, center_y,
    sigma arcsec, lensed)`` (amplitude 0 skips one; sigma 0: a point);
    ``lensed_out``: float32 (B, n, n), or of length 0 to skip it. Returns
    a bool (B,): whether each image has lensed light.
    """
    n_img = out.shape[0]
    record = lensed_out.shape[0] == n_img
    buffers = _light_buffers(xg, yg)
    scratch = np.empty(out.shape[1] * out.shape[2], dtype=np.float32)
    has = np.zeros(n_img, dtype=np.bool_)
    for b in range(n_img):
        lensed_light = lensed_out[b].reshape(-1) if record else scratch
        has[b] = _light_one(out[b], lensed_light, record, buffers, xg, yg, unlensed[b], sie[b], shear[b],
                            subhalo[b], lensed[b], blobs[b], extra_deflection, extra_index[b], scale, ss_factor,
                            ss_radius, ss_levels)
    return has


@njit(cache=True, error_model="numpy")
def render_batch(out, rows, xg, yg, unlensed, sie, shear, subhalo, lensed, blobs, extra_deflection, extra_index,
                 scale, ss_factor, ss_radius, ss_levels, taps, sky_sigma, inv_gain, seeds, noisy, snr_sky, arc_snr):
    """:func:`render_light_parts`, the Gaussian PSF and the noise image by
    image, while each image is in the cache: ``out[rows[b]]`` (``out`` of
    shape (N, n, n)) gets image ``b``, convolved and, where ``noisy``, with
    noise; ``arc_snr[b, 0]`` (float64, shape (N, 2)) the S/N of its lensed light against the
    sky ``snr_sky[b]`` and its own Poisson noise, ``arc_snr[b, 1]`` the part of it where the
    lensed light outshines the rest (``arc_visible_snr``; left as they are, NaN from the caller,
    without lensed light; ``arc_snr`` of length 0: not computed, which saves a convolution per lens).
    The other arguments are those of the light, PSF and noise kernels, per image.
    """
    n_img, n = rows.shape[0], out.shape[1]
    npix = n * n
    buffers = _light_buffers(xg, yg)
    light = np.empty((n, n), dtype=np.float32)
    lensed_light = np.empty(npix, dtype=np.float32)
    terms = np.empty((2, npix + 8), dtype=np.float32)
    src, cols, acc = convolve_buffers(n, n, (taps.shape[1] - 1) // 2)
    normals = np.empty(npix + 1, dtype=np.float32)
    for b in range(n_img):
        has = _light_one(light, lensed_light, arc_snr.shape[0] == n_img, buffers, xg, yg, unlensed[b], sie[b],
                         shear[b], subhalo[b], lensed[b], blobs[b], extra_deflection, extra_index[b], scale,
                         ss_factor, ss_radius, ss_levels)
        img = out[rows[b]].reshape(npix)
        convolve_one(light.reshape(npix), taps[b], img, n, n, src, cols, acc)
        if has and arc_snr.shape[0] == n_img:  # the lensed light's S/N straight from its convolution
            snr, visible = convolved_arc_snr(lensed_light, taps[b], img, n, n, snr_sky[b], inv_gain[b], src, cols,
                                             acc, terms)
            arc_snr[b, 0] = snr
            arc_snr[b, 1] = visible
        if noisy[b]:
            noise_one(img, sky_sigma[b], inv_gain[b], seeds[b], normals)


@njit(cache=True, error_model="numpy")
def arc_scales(scales, xg, yg, unlensed, sie, shear, subhalo, lensed, blobs, extra_deflection, extra_index, scale,
               ss_factor, ss_radius, ss_levels, taps, snr_sky, inv_gain, target):
    """``scales[b]``: the factor on the lensed light of image ``b`` (all its
    lensed components and blobs) that gives it the integrated S/N ``target[b]``
    over its unlensed light (:func:`lensfinder.simulation.compiled_optics.solve_arc_scale`),
    Gaussian PSF ``taps[b]``; NaN where it has no lensed light. Arguments as :func:`render_batch`."""
    n_img, n = scales.shape[0], xg.shape[0]
    npix = n * n
    buffers = _light_buffers(xg, yg)
    light = np.empty((n, n), dtype=np.float32)
    lensed_light = np.empty(npix, dtype=np.float32)
    total = np.empty(npix, dtype=np.float32)
    arc = np.empty(npix, dtype=np.float32)
    src, cols, acc = convolve_buffers(n, n, (taps.shape[1] - 1) // 2)
    for b in range(n_img):
        scales[b] = np.nan
        if not _light_one(light, lensed_light, True, buffers, xg, yg, unlensed[b], sie[b], shear[b], subhalo[b],
                          lensed[b], blobs[b], extra_deflection, extra_index[b], scale, ss_factor, ss_radius,
                          ss_levels):
            continue
        convolve_one(light.reshape(npix), taps[b], total, n, n, src, cols, acc)
        convolve_one(lensed_light, taps[b], arc, n, n, src, cols, acc)
        for i in range(npix):
            total[i] -= arc[i]
        scales[b] = solve_arc_scale(arc, total, snr_sky[b], inv_gain[b], target[b])


@njit(cache=True, error_model="numpy")
def _light_buffers(xg, yg):
    """The flat pixel grid, two deflection buffers and two blob-weight buffers."""
    n = xg.shape[0]
    npix = n * n
    gx = np.empty(npix, dtype=np.float32)
    gy = np.empty(npix, dtype=np.float32)
    for iy in range(n):
        for ix in range(n):
            gx[iy * n + ix] = xg[ix]
            gy[iy * n + ix] = yg[iy]
    return (gx, gy, np.empty(npix, dtype=np.float32), np.empty(npix, dtype=np.float32),
            np.empty(2 * n + 8, dtype=np.float64), np.empty(2 * n + 8, dtype=np.float64))


@njit(cache=True, error_model="numpy")
def _light_one(out, lensed_light, record, buffers, xg, yg, unlensed, s, shear, subhalo, lensed, blobs,
               extra_deflection, m, scale, ss_factor, ss_radius, ss_levels):
    """One image of :func:`render_light_parts` into ``out`` (n, n) and, when
    ``record``, its lensed light into the flat ``lensed_light``; returns
    whether it has lensed light. ``buffers``: :func:`_light_buffers`."""
    gx, gy, ax, ay, wx, wy = buffers
    n = out.shape[0]
    npix = n * n
    img = out.reshape(npix)
    img[:] = _ZERO
    if record:
        lensed_light[:] = _ZERO
    for k in range(unlensed.shape[0]):
        c = unlensed[k]
        if c[8] != _ZERO:
            add_sersic(img, gx, gy, c)
            if ss_factor > 1:
                supersample(out, xg, yg, c, scale, ss_factor, ss_radius, ss_levels)
    lensed_any = False
    for k in range(lensed.shape[0]):
        lensed_any |= lensed[k, 8] != _ZERO
    if lensed_any:
        _lensed_light(img, lensed_light, record, gx, gy, ax, ay, s, shear, subhalo, lensed, extra_deflection, m)
    x0 = np.float64(xg[0])
    half_width = 0.5 * (n - 1) * scale
    for k in range(blobs.shape[0]):
        bl = blobs[k]
        if bl[0] == _ZERO or abs(bl[1]) > half_width + 10.0 * bl[3] + scale or \
                abs(bl[2]) > half_width + 10.0 * bl[3] + scale:
            continue
        _add_blob(img, lensed_light, record, n, x0, scale, bl, wx, wy)
        lensed_any |= bl[4] != _ZERO
    return lensed_any


@njit(cache=True, error_model="numpy")
def _lensed_light(img, lensed_light, record, gx, gy, ax, ay, s, shear, subhalo, lensed, extra_deflection, m):
    """Add the lensed Sersic components to the flat ``img`` (and to ``lensed_light`` when ``record``)."""
    npix = img.shape[0]
    cx, cy, ce, se, cos, sin, q_over_eps, s1, s2, eps, cs, ss = (
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11])
    g1, g2 = shear[0], shear[1]
    for i in range(npix):
        x = gx[i]
        y = gy[i]
        dx = x - cx
        dy = y - cy
        xe = ce * dx + se * dy  # eps x'
        yp = cos * dy - sin * dx  # y'
        t = xe * q_over_eps
        psi = math.sqrt(fma(t, t, yp * yp))
        a1 = atan_ratio32(xe, psi + s1)
        # arctanh(eps y' / (psi + s2)) = log((psi + s2 + eps y') / (psi + s2 - eps y')) / 2
        d = psi + s2
        v = eps * yp
        a2 = _HALF * log32((d + v) / (d - v))
        ax[i] = fma(cs, a1, -ss * a2) + fma(g1, x, g2 * y)
        ay[i] = fma(ss, a1, cs * a2) + fma(g2, x, -g1 * y)
    for k in range(subhalo.shape[0]):
        th = subhalo[k, 0]
        if th == _ZERO:
            continue
        sx, sy = subhalo[k, 1], subhalo[k, 2]
        for i in range(npix):
            dx = gx[i] - sx
            dy = gy[i] - sy
            r = math.sqrt(dx * dx + dy * dy)
            a = th / r if r > _ZERO else _ZERO
            ax[i] += a * dx
            ay[i] += a * dy
    if m >= 0:
        ex = extra_deflection[m, 0].reshape(npix)
        ey = extra_deflection[m, 1].reshape(npix)
        for i in range(npix):
            ax[i] += ex[i]
            ay[i] += ey[i]
    for i in range(npix):
        ax[i] = gx[i] - ax[i]
        ay[i] = gy[i] - ay[i]
    for k in range(lensed.shape[0]):
        if lensed[k, 8] != _ZERO:
            if record:
                add_sersic_lensed(img, lensed_light, ax, ay, lensed[k])
            else:
                add_sersic(img, ax, ay, lensed[k])
