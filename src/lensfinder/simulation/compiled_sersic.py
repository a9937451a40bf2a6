"""Compiled float32 Sersic light (numba): the profile, its central supersampling, and its lensed form.

The kernels of :mod:`lensfinder.simulation.compiled` add each Sersic
component with these: :func:`add_sersic` over a flat pixel grid (the
image's, or the lensed positions), :func:`add_sersic_lensed` recording the
lensed light apart, and :func:`supersample` replacing the pixels about a
profile's centre by sub-pixel averages, its cusp refined further. The
coefficients rows are :func:`lensfinder.simulation.lensing.sersic_coefficients`'s.
numba caches a kernel by its own file's contents: after editing this module,
update ``KERNEL_SOURCES_SHA256`` (below) in each kernel module. This module imports numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lensfinder.simulation.fastmath import exp2_32, fma, log2_32

#: sha256 of the sources of the kernel modules (``compiled``, ``compiled_optics``, ``compiled_sersic``,
#: ``fastmath``; these lines left out). numba caches a kernel by the contents of its own file alone, so a
#: change in a module it calls would leave the cached kernel stale: each caching module carries this line,
#: and tests/simulation/test_kernels.py fails, printing the new value, until it is updated in all three.
KERNEL_SOURCES_SHA256 = "50c75e981e98e641520a5c19302b7aa619e2fa9b5eb18c73c783dfd778320e5f"

__all__ = ["add_sersic", "add_sersic_lensed", "supersample"]

_F = np.float32
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
def add_sersic(img, px, py, c):
    """Add the Sersic profile ``c`` (a coefficients row) at the positions
    ``px, py`` to ``img`` (all flat: one loop over every pixel, so that the
    vector loop has no per-row scalar remainder)."""
    cx, cy = c[0], c[1]
    cxx, cyy, cxy, r2_floor, inv_2n, mb, amp = _sersic_args(c)
    for i in range(img.shape[0]):
        img[i] += _sersic(px[i] - cx, py[i] - cy, cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)


@njit(inline="always", error_model="numpy")
def supersample(img, xg, yg, c, scale, factor, radius, levels):
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


@njit(inline="always", error_model="numpy")
def _touching(u, factor):
    """The sub-cells ``lo..hi`` (one axis) that touch a centre ``u`` sub-cells from the pixel's lower edge:
    one, or the two either side of a sub-cell edge the centre lies on (within 1e-9 of a cell: a pixel
    centre, where lens galaxies at offset 0 sit, is one such edge for an even ``factor``)."""
    k = np.rint(u)
    if abs(u - k) < 1e-9 and 0 < k < factor:
        return int(k) - 1, int(k)
    b = min(int(u), factor - 1)
    return b, b


@njit(cache=True, error_model="numpy")  # a call, not inlined: once per profile, and the pixel loops keep their code
def _refine_centre(img, xg, yg, c, scale, factor, levels, col, row, sub):
    """Nested supersampling of a profile's cusp: each sub-pixel of pixel
    ``(row, col)`` that touches the centre ``c`` (one, or two or four when
    the centre lies on their edges, :func:`_touching`) is replaced by the
    average of its ``factor x factor`` sub-cells, then the sub-cell that
    touches the centre by its own, ``levels`` times (float64 offsets from
    the centre).

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
    h0 = scale / factor
    b_lo, b_hi = _touching((cx - x0) / h0, factor)
    a_lo, a_hi = _touching((cy - y0) / h0, factor)
    corr = 0.0
    for a0 in range(a_lo, a_hi + 1):
        for b0 in range(b_lo, b_hi + 1):
            # the value the patch gave this sub-pixel, in the patch's arithmetic
            parent = _sersic((xg[col] + sub[b0]) - c[0], (yg[row] + sub[a0]) - c[1], cxx, cyy, cxy, r2_floor,
                             inv_2n, mb, amp)
            ox = x0 + b0 * h0 - cx  # the cell's lower edges, from the centre
            oy = y0 + a0 * h0 - cy
            h = h0
            weight = 1.0 / (factor * factor)
            for _ in range(levels):
                hs = h / factor
                acc = 0.0
                for a in range(factor):
                    for b in range(factor):
                        acc += _sersic(_F(ox + (b + 0.5) * hs), _F(oy + (a + 0.5) * hs), cxx, cyy, cxy, r2_floor,
                                       inv_2n, mb, amp)
                corr += weight * (acc / (factor * factor) - parent)
                b = min(max(int(-ox / hs), 0), factor - 1)  # the sub-cell that touches the centre
                a = min(max(int(-oy / hs), 0), factor - 1)
                ox += b * hs
                oy += a * hs
                parent = _sersic(_F(ox + 0.5 * hs), _F(oy + 0.5 * hs), cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)
                weight /= factor * factor
                h = hs
    img[row, col] += _F(corr)


@njit(inline="always", error_model="numpy")
def add_sersic_lensed(img, lensed_light, px, py, c):
    """:func:`add_sersic` that also adds the light to ``lensed_light``
    (the same float32 values: ``img`` gets the bits it would get alone)."""
    cx, cy = c[0], c[1]
    cxx, cyy, cxy, r2_floor, inv_2n, mb, amp = _sersic_args(c)
    for i in range(img.shape[0]):
        v = _sersic(px[i] - cx, py[i] - cy, cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)
        img[i] += v
        lensed_light[i] += v
