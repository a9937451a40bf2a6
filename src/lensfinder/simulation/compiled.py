"""Compiled float32 kernels of the simulator's hot path (numba): light, lensing, PSF, noise.

One pass per image computes the unlensed light, the deflection (SIE + shear
+ SIS subhaloes + an optional precomputed field) and the lensed light, in
the conventions of :mod:`lensfinder.simulation.lensing` (the float64
reference the tests compare with); a separable pass convolves with the
Gaussian PSF; a last pass adds noise from a counter-based stream keyed by
``image_seed``. Design and reproducibility: ``docs/simulation.md``. This
module imports numba; only the rendering functions import it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lensfinder.simulation.fastmath import atan_ratio32, exp2_32, fma, log2_32, log32, sincos_2pi32

__all__ = ["render_light", "render_batch", "convolve_separable", "add_noise", "standard_normals"]

_F = np.float32
_ZERO, _ONE, _HALF = _F(0.0), _F(1.0), _F(0.5)
# float32 elements per block of the PSF passes (8 KiB: stays in L1)
_CHUNK = 2048

_LOG2E = _F(1.4426950408889634)

# SplitMix64 (Steele, Lea & Flood 2014)
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U16, _U27, _U30, _U31, _U40 = (np.uint64(s) for s in (16, 27, 30, 31, 40))
_MASK24 = np.uint64(0xFFFFFF)
_ULP24 = _F(2.0**-24)
_MINUS_TWO = _F(-2.0)

# The Sersic profile is held at e^-40 (4e-18) of its central value below
# that: images stay clear of float32 denormals (~100x slower in the PSF
# products). lensing.SERSIC_MIN_EXPONENT (-80) is the float64 reference's.
_SERSIC_MIN_EXPONENT2 = _F(-40.0 / np.log(2.0))  # base 2


@njit(inline="always", error_model="numpy")
def _splitmix(z):
    z = (z ^ (z >> _U30)) * _M1
    z = (z ^ (z >> _U27)) * _M2
    return z ^ (z >> _U31)


@njit(inline="always", error_model="numpy")
def _pair(base, j):
    """Two uniforms from output ``j`` of the stream ``base``: ``u1`` in (0, 1], ``u2`` in [0, 1)."""
    z = _splitmix(base + np.uint64(j + 1) * _GAMMA)
    # 24-bit integers, converted from 32-bit lanes (cheap on every vector ISA)
    u1 = (_F(np.int32(z >> _U40)) + _ONE) * _ULP24
    u2 = _F(np.int32((z >> _U16) & _MASK24)) * _ULP24
    return u1, u2


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
def _supersample(img, xg, yg, c, scale, factor, radius):
    """Replace the pixels within ``radius`` of the profile centre by their
    ``factor x factor`` sub-pixel average (float64 accumulation).

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


@njit(cache=True, error_model="numpy")
def render_light(out, xg, yg, unlensed, sie, shear, subhalo, lensed, extra_deflection, extra_index, scale,
                 ss_factor, ss_radius):
    """Noiseless, unconvolved images of a batch, written into ``out``.

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
    ss_factor, ss_radius : int
        Central supersampling of the unlensed components (factor 1: off).
    """
    n_img = out.shape[0]
    gx, gy, ax, ay = _light_buffers(xg, yg)
    for b in range(n_img):
        _light_one(out[b], gx, gy, xg, yg, unlensed[b], sie[b], shear[b], subhalo[b], lensed[b], extra_deflection,
                   extra_index[b], scale, ss_factor, ss_radius, ax, ay)


@njit(cache=True, error_model="numpy")
def render_batch(out, rows, xg, yg, unlensed, sie, shear, subhalo, lensed, extra_deflection, extra_index, scale,
                 ss_factor, ss_radius, taps, sky_sigma, inv_gain, seeds, noisy):
    """:func:`render_light`, :func:`convolve_separable` and :func:`add_noise`
    image by image, while each image is in the cache: ``out[rows[b]]`` (``out``
    of shape (N, n, n)) gets image ``b``, convolved and, where ``noisy``,
    with noise. The other arguments are those of the three kernels, per image.
    """
    n_img, n = rows.shape[0], out.shape[1]
    npix = n * n
    gx, gy, ax, ay = _light_buffers(xg, yg)
    light = np.empty((n, n), dtype=np.float32)
    src, cols, acc = _convolve_buffers(n, n, (taps.shape[1] - 1) // 2)
    normals = np.empty(npix + 1, dtype=np.float32)
    for b in range(n_img):
        _light_one(light, gx, gy, xg, yg, unlensed[b], sie[b], shear[b], subhalo[b], lensed[b], extra_deflection,
                   extra_index[b], scale, ss_factor, ss_radius, ax, ay)
        img = out[rows[b]].reshape(npix)
        _convolve_one(light.reshape(npix), taps[b], img, n, n, src, cols, acc)
        if noisy[b]:
            _noise_one(img, sky_sigma[b], inv_gain[b], seeds[b], normals)


@njit(cache=True, error_model="numpy")
def _light_buffers(xg, yg):
    """The flat pixel grid and two deflection buffers."""
    n = xg.shape[0]
    npix = n * n
    gx = np.empty(npix, dtype=np.float32)
    gy = np.empty(npix, dtype=np.float32)
    for iy in range(n):
        for ix in range(n):
            gx[iy * n + ix] = xg[ix]
            gy[iy * n + ix] = yg[iy]
    return gx, gy, np.empty(npix, dtype=np.float32), np.empty(npix, dtype=np.float32)


@njit(cache=True, error_model="numpy")
def _light_one(out, gx, gy, xg, yg, unlensed, s, shear, subhalo, lensed, extra_deflection, m, scale, ss_factor,
               ss_radius, ax, ay):
    """One image of :func:`render_light` into ``out`` (n, n); ``ax, ay`` scratch."""
    n = out.shape[0]
    npix = n * n
    img = out.reshape(npix)
    img[:] = _ZERO
    for k in range(unlensed.shape[0]):
        c = unlensed[k]
        if c[8] != _ZERO:
            _add_sersic(img, gx, gy, c)
            if ss_factor > 1:
                _supersample(out, xg, yg, c, scale, ss_factor, ss_radius)
    lensed_any = False
    for k in range(lensed.shape[0]):
        lensed_any |= lensed[k, 8] != _ZERO
    if not lensed_any:
        return
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
            _add_sersic(img, ax, ay, lensed[k])


@njit(cache=True, error_model="numpy")
def convolve_separable(images, taps, out, ny, nx):
    """Convolve each image with the separable kernel ``taps[b] (x) taps[b]``,
    zero outside the image ('same' size), into ``out``.

    ``images``, ``out``: float32 (B, ny nx), the images flattened (C order);
    ``taps``: float32 (B, T), T odd, symmetric (``taps[:, t] == taps[:, T-1-t]``:
    the rows of :func:`lensfinder.simulation.optics.gaussian_taps` are; only half are read).

    Both passes run over the image as one flat array with zero margins (r
    rows above and below, r columns left and right, r = (T - 1) / 2), so the
    vector loops are long and need no bounds: along columns the taps are
    shifts by whole padded rows, along rows shifts by pixels. Symmetric taps
    are added in pairs, three pairs per sweep of a block that stays in L1.
    """
    src, cols, acc = _convolve_buffers(ny, nx, (taps.shape[1] - 1) // 2)
    for b in range(images.shape[0]):
        _convolve_one(images[b], taps[b], out[b], ny, nx, src, cols, acc)


@njit(cache=True, error_model="numpy")
def _convolve_buffers(ny, nx, r):
    """Scratch of :func:`_convolve_one`; the zero margins of the first two stay zero."""
    width = nx + 2 * r
    body = ny * width  # the padded rows that hold the image
    return (np.zeros((ny + 2 * r) * width, dtype=np.float32), np.zeros(body + 2 * r, dtype=np.float32),
            np.empty(body, dtype=np.float32))


@njit(cache=True, error_model="numpy")
def _convolve_one(img, k, dst, ny, nx, src, cols, acc):
    """One image of :func:`convolve_separable` (flat ``img`` -> flat ``dst``)."""
    r = (k.shape[0] - 1) // 2
    width = nx + 2 * r
    body = ny * width
    for y in range(ny):  # explicit loops: numba's slice assignment costs ~0.1 us a call
        base = (y + r) * width + r
        for x in range(nx):
            src[base + x] = img[y * nx + x]
    _symmetric_pass(cols[r:r + body], src, r * width, width, k, r)
    _symmetric_pass(acc, cols, r, 1, k, r)
    for y in range(ny):
        base = y * width + r
        for x in range(nx):
            dst[y * nx + x] = acc[base + x]


@njit(inline="always", error_model="numpy")
def _symmetric_pass(dst, src, start, step, k, r):
    """``dst[j] = k[r] src[start + j] + sum_t k[t] (src[start + j - (r - t) step] + src[start + j + (r - t) step])``."""
    n = dst.shape[0]
    for c0 in range(0, n, _CHUNK):
        c1 = min(c0 + _CHUNK, n)
        s0 = start + c0
        s1 = start + c1
        _scale(dst[c0:c1], src[s0:s1], k[r])
        t = 0
        while t + 3 <= r:
            o0, o1, o2 = (r - t) * step, (r - t - 1) * step, (r - t - 2) * step
            _pairs3(dst[c0:c1], src[s0 - o0:s1 - o0], src[s0 + o0:s1 + o0], src[s0 - o1:s1 - o1],
                    src[s0 + o1:s1 + o1], src[s0 - o2:s1 - o2], src[s0 + o2:s1 + o2], k[t], k[t + 1], k[t + 2])
            t += 3
        for t in range(t, r):
            o = (r - t) * step
            _pairs1(dst[c0:c1], src[s0 - o:s1 - o], src[s0 + o:s1 + o], k[t])


@njit(inline="always", error_model="numpy")
def _scale(dst, src, w):
    for i in range(dst.shape[0]):
        dst[i] = w * src[i]


@njit(inline="always", error_model="numpy")
def _pairs1(dst, a, b, w):
    for i in range(dst.shape[0]):
        dst[i] = fma(w, a[i] + b[i], dst[i])


@njit(inline="always", error_model="numpy")
def _pairs3(dst, a0, b0, a1, b1, a2, b2, w0, w1, w2):
    for i in range(dst.shape[0]):
        dst[i] = fma(w0, a0[i] + b0[i], fma(w1, a1[i] + b1[i], fma(w2, a2[i] + b2[i], dst[i])))


@njit(cache=True, error_model="numpy")
def add_noise(images, sky_sigma, inv_gain, seeds, noisy):
    """Add Gaussian sky/read-out noise and Poisson noise (Gaussian
    approximation) in place: ``image += sqrt(sky^2 + max(image, 0) inv_gain) N(0, 1)``.

    ``images``: float32 (B, npix), the images flattened; ``sky_sigma``,
    ``inv_gain``: float32 (B,); ``seeds``: uint64 (B,) (each image's
    ``image_seed``); ``noisy``: bool (B,), False leaves an image noiseless.
    """
    normals = np.empty(images.shape[1] + 1, dtype=np.float32)
    for b in range(images.shape[0]):
        if noisy[b]:
            _noise_one(images[b], sky_sigma[b], inv_gain[b], seeds[b], normals)


@njit(cache=True, error_model="numpy")
def _noise_one(img, sky, ig, seed, normals):
    """One image of :func:`add_noise`; ``normals`` scratch of at least npix + 1."""
    npix = img.shape[0]
    h = (npix + 1) // 2
    _normals(normals, _splitmix(seed), h)
    var0 = sky * sky
    for i in range(npix):
        p = img[i]
        img[i] = p + math.sqrt(var0 + max(p, _ZERO) * ig) * normals[i]


@njit(inline="always", error_model="numpy")
def _normals(out, base, h):
    """Output ``j`` of the stream ``base`` gives the normals ``j`` and ``j + h``
    of ``out`` (length ``2 h``) by Box-Muller.

    Two loops, the integer hashing and then the float transform: fused, the
    64-bit and 32-bit lanes halve the vector width of the float part."""
    lo = out[:h]
    hi = out[h:]
    for j in range(h):
        u1, u2 = _pair(base, j)
        lo[j] = u1
        hi[j] = u2
    for j in range(h):
        rad = math.sqrt(_MINUS_TWO * log32(lo[j]))
        s, c = sincos_2pi32(hi[j])
        lo[j] = rad * c
        hi[j] = rad * s


@njit(cache=True, error_model="numpy")
def standard_normals(seed, n):
    """The first ``n`` normals of the noise stream of ``seed`` (what :func:`add_noise`
    multiplies an image of ``n`` pixels by), float32."""
    h = (n + 1) // 2
    out = np.empty(2 * h, dtype=np.float32)
    _normals(out, _splitmix(np.uint64(seed)), h)
    return out[:n]
