"""Compiled float32 kernels of the simulator's hot path (numba): light, lensing, PSF, noise.

One pass per image computes the unlensed light, the deflection (SIE + shear
+ SIS subhaloes + an optional precomputed field), the lensed light and
point-like blobs (knots, stars, lensed quasar images), in the conventions of
:mod:`lensfinder.simulation.lensing` (the float64 reference the tests compare
with); the separable Gaussian PSF, the noise (a counter-based stream keyed
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
from lensfinder.simulation.fastmath import atan_ratio32, exp2_32, fma, log2_32, log32

__all__ = ["render_light", "render_light_parts", "render_batch", "arc_scales", "convolve_separable", "add_noise",
           "standard_normals"]

_F = np.float32
_ZERO, _ONE, _HALF = _F(0.0), _F(1.0), _F(0.5)
_LOG2E = _F(1.4426950408889634)

# The Sersic profile is held at e^-40 (4e-18) of its central value below
# that: images stay clear of float32 denormals (~100x slower in the PSF
# products). lensing.SERSIC_MIN_EXPONENT (-80) is the float64 reference's.
_SERSIC_MIN_EXPONENT2 = _F(-40.0 / np.log(2.0))  # base 2


@njit(inline="always", error_model="numpy")
def _sersic(dx, dy, cxx, cyy, cxy, r2_floor, inv_2n, minus_bn_log2e, amp):
    """Sersic surface brightness at offsets ``dx, dy`` from the centre: the
    coefficients of :func:`lensfinder.simulation.lensing.sersic_coefficients` as scalars
    (held in registers by the pixel loops), with ``-b_n`` times log2(e)
    (:func:`_sersic_args`): ``amp 2^(-b_n log2(e) R^(1/n))`` in base 2."""
    r2 = fma(cxx * dx, dx, fma(cyy * dy, dy, (cxy * dy) * dx))
    r2 = max(r2, r2_floor)
    t = exp2_32(log2_32(r2) * inv_2n) * minus_bn_log2e
    return exp2_32(max(t, _SERSIC_MIN_EXPONENT2)) * amp


@njit(inline="always", error_model="numpy")
def _sersic_args(c):
    """The scalars of :func:`_sersic` from a coefficients row."""
    return c[2], c[3], c[4], c[5], c[6], c[7] * _LOG2E, c[8]


@njit(inline="always", error_model="numpy")
def _add_sersic(img, px, py, c):
    """Add the Sersic profile ``c`` (a coefficients row) at the positions
    ``px, py`` to ``img`` (all flat: one loop over every pixel, so that the
    vector loop has no per-row scalar remainder)."""
    cx, cy = c[0], c[1]
    cxx, cyy, cxy, r2_floor, inv_2n, mb, amp = _sersic_args(c)
    for i in range(img.shape[0]):
        img[i] += _sersic(px[i] - cx, py[i] - cy, cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)


@njit(inline="always", error_model="numpy")
def _supersample(img, xg, yg, c, scale, factor, radius, levels):
    """Replace the pixels within ``radius`` of the profile centre by their
    ``factor x factor`` sub-pixel average (float64 accumulation), then refine
    the sub-pixel that holds the centre ``levels`` times (:func:`_refine_centre`).

    The sub-pixel values of the whole patch are computed in one flat vector
    loop, then summed pixel by pixel in a fixed order.
    """
    n = img.shape[0]
    c0 = (n - 1) / 2.0
    col = min(max(int(np.rint(np.float64(c[0]) / scale + c0)), radius), n - 1 - radius)
    row = min(max(int(np.rint(np.float64(c[1]) / scale + c0)), radius), n - 1 - radius)
    sub = np.empty(factor, dtype=np.float32)
    for i in range(factor):
        sub[i] = _F(((i + 0.5) / factor - 0.5) * scale)
    w = 2 * radius + 1
    f2 = factor * factor
    m = w * w * f2
    dx = np.empty(m, dtype=np.float32)
    dy = np.empty(m, dtype=np.float32)
    for p in range(w * w):  # pixel p of the patch, sub-pixel (a, b) at p f2 + a factor + b
        iy = row - radius + p // w
        ix = col - radius + p % w
        for a in range(factor):
            for b in range(factor):
                dx[p * f2 + a * factor + b] = (xg[ix] + sub[b]) - c[0]
                dy[p * f2 + a * factor + b] = (yg[iy] + sub[a]) - c[1]
    cxx, cyy, cxy, r2_floor, inv_2n, mb, amp = _sersic_args(c)
    values = np.empty(m, dtype=np.float32)
    for i in range(m):
        values[i] = _sersic(dx[i], dy[i], cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)
    inv = 1.0 / f2
    for p in range(w * w):
        iy = row - radius + p // w
        ix = col - radius + p % w
        acc = 0.0
        for i in range(p * f2, (p + 1) * f2):
            acc += values[i]
        coarse = _sersic(xg[ix] - c[0], yg[iy] - c[1], cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)
        img[iy, ix] += _F(acc * inv - coarse)
    if levels > 0:
        _refine_centre(img, xg, yg, c, scale, factor, levels, col, row, sub)


@njit(cache=True, error_model="numpy")  # a call, not inlined: once per profile, and the pixel loops keep their code
def _refine_centre(img, xg, yg, c, scale, factor, levels, col, row, sub):
    """Nested supersampling of a profile's cusp: the sub-pixel of pixel
    ``(row, col)`` that holds the centre ``c`` is replaced by the average of
    its ``factor x factor`` sub-cells, then the sub-cell that holds the
    centre by its own, ``levels`` times (float64 offsets from the centre).

    A uniform grid misses a Sersic cusp (n >= 2, R_e of a few pixels) by
    up to tens of per cent of the profile's flux, either way, by where the
    centre falls between its sub-pixels; three levels of 8 reach cells of
    0.2" / 8^4 = 5e-5", inside the profile's smoothing radius. Nothing is
    done when the centre lies outside the pixel (a profile off the stamp).
    """
    cx, cy = np.float64(c[0]), np.float64(c[1])
    x0 = np.float64(xg[col]) - 0.5 * scale  # the pixel's lower edges
    y0 = np.float64(yg[row]) - 0.5 * scale
    if not (x0 <= cx < x0 + scale and y0 <= cy < y0 + scale):
        return
    cxx, cyy, cxy, r2_floor, inv_2n, mb, amp = _sersic_args(c)
    h = scale / factor
    b = min(int((cx - x0) / h), factor - 1)
    a = min(int((cy - y0) / h), factor - 1)
    # the value the patch gave this sub-pixel, in the patch's arithmetic
    parent = _sersic((xg[col] + sub[b]) - c[0], (yg[row] + sub[a]) - c[1], cxx, cyy, cxy, r2_floor, inv_2n, mb,
                     amp)
    ox = x0 + b * h - cx  # the cell's lower edges, from the centre
    oy = y0 + a * h - cy
    weight = 1.0 / (factor * factor)
    corr = 0.0
    for _ in range(levels):
        hs = h / factor
        acc = 0.0
        for a in range(factor):
            for b in range(factor):
                acc += _sersic(_F(ox + (b + 0.5) * hs), _F(oy + (a + 0.5) * hs), cxx, cyy, cxy, r2_floor, inv_2n,
                               mb, amp)
        corr += weight * (acc / (factor * factor) - parent)
        b = min(max(int(-ox / hs), 0), factor - 1)  # the sub-cell that holds the centre
        a = min(max(int(-oy / hs), 0), factor - 1)
        ox += b * hs
        oy += a * hs
        parent = _sersic(_F(ox + 0.5 * hs), _F(oy + 0.5 * hs), cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)
        weight /= factor * factor
        h = hs
    img[row, col] += _F(corr)


@njit(inline="always", error_model="numpy")
def _add_sersic_lensed(img, lensed_light, px, py, c):
    """:func:`_add_sersic` that also adds the light to ``lensed_light``
    (the same float32 values: ``img`` gets the bits it would get alone)."""
    cx, cy = c[0], c[1]
    cxx, cyy, cxy, r2_floor, inv_2n, mb, amp = _sersic_args(c)
    for i in range(img.shape[0]):
        v = _sersic(px[i] - cx, py[i] - cy, cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)
        img[i] += v
        lensed_light[i] += v


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
            _add_sersic(img, gx, gy, c)
            if ss_factor > 1:
                _supersample(out, xg, yg, c, scale, ss_factor, ss_radius, ss_levels)
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
                _add_sersic_lensed(img, lensed_light, ax, ay, lensed[k])
            else:
                _add_sersic(img, ax, ay, lensed[k])
