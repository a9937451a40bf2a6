"""Compiled float32 kernels of the simulator's hot path (numba).

One pass per image over its pixels computes the unlensed light, the lens
deflection (SIE + external shear + SIS subhaloes + an optional precomputed
perturbation) and the lensed light; a separable pass convolves with the
Gaussian PSF; a last pass adds the noise. The physics and the conventions are
those of :mod:`lensfinder.simulation.lensing` (lenstronomy's ``SIE``, ``SHEAR``, ``SIS``
and ``SERSIC_ELLIPSE``), whose numpy functions stay the reference the tests
compare these kernels with.

Why compiled, and why its own elementary functions
--------------------------------------------------
numpy's float32 ``exp``/``log`` are SIMD and cost ~1 ns per pixel, but a
101 x 101 image needs ~60 array passes, and their memory traffic and the
per-call overhead kept the numpy renderer at ~300 us per image (4x
lenstronomy). A fused loop needs vectorised ``exp2``/``log2`` (the Sersic
profile, in base 2), ``log``, ``atan`` and ``sin``/``cos`` (the SIE
deflection, Box-Muller): the llvmlite wheels from PyPI are built without Intel SVML,
so numba calls the scalar libm for ``math.exp`` (2.6 ns per element against
numpy's 0.6 ns, measured here) and LLVM cannot vectorise the loop. The
functions below are polynomial approximations on a reduced range
(least-squares polynomials fitted in float64 over Chebyshev nodes, a split
ln 2 for ``log``), written in float32 arithmetic, bit operations (``frexp``,
``2^k``) and fused multiply-adds, so that LLVM vectorises the loops that call
them: 0.4-0.9 ns per element. Their accuracy (a few float32
ulp over the ranges used) is checked against numpy in ``tests/test_kernels.py``;
``benchmarks/simulate.py`` measures the result against lenstronomy.

Reproducibility: no ``fastmath`` (no reassociation, no implicit FMA
contraction) and explicit ``llvm.fma`` (correctly rounded on every machine),
so every operation is IEEE float32 and the same image comes out bit for bit
whether it is rendered alone or in a batch, and at any vector width (tested).

Noise: the uniforms come from a counter-based SplitMix64 stream keyed by the
image's ``image_seed`` (Steele, Lea & Flood 2014; the SplitMix64 finaliser
passes BigCrush as a counter-based generator), pixel pair ``j`` taking the
``j``-th output, so the noise of any image is re-created from its seed alone
without building a numpy Generator per image (16 us, plus 21 us for numpy's
float32 fill: more than the whole compiled render). Box-Muller turns each
64-bit output into two standard normals (24-bit uniforms: tails end at
5.77 sigma).

This module imports numba; it is imported only by the rendering functions.
"""

from __future__ import annotations

import math

import llvmlite.binding as _llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["log32", "exp2_32", "log2_32", "atan_ratio32", "sincos_2pi32", "render_light", "render_batch",
           "convolve_separable", "add_noise", "standard_normals"]


def _prefer_512_bit_vectors() -> bool:
    """On AVX-512 hosts, let LLVM choose 512-bit (16 float32 lane) vectors.

    LLVM's x86 tuning prefers 256-bit vectors on most AVX-512 CPUs (clock
    throttling on early Xeons); for these arithmetic-bound loops 512-bit
    vectors were 25-30% faster on the development machine (Sapphire Rapids).
    This sets numba's target features to the host's minus ``prefer-256-bit``,
    which takes effect if nothing was compiled in the process before; a
    ``NUMBA_CPU_FEATURES`` of the user's wins. Lane-wise IEEE float32
    arithmetic gives the same bits at any vector width.
    """
    import os

    from numba.core import config

    if config.CPU_FEATURES is not None or os.environ.get("LENSFINDER_PREFER_256_BIT"):
        return False
    features = _llvm.get_host_cpu_features()
    if not (features.get("avx512f") and features.get("avx512dq")):
        return False
    config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"
    return True


PREFER_512_BIT = _prefer_512_bit_vectors()

_F = np.float32
_ZERO, _ONE, _HALF, _TWO, _THREE = _F(0.0), _F(1.0), _F(0.5), _F(2.0), _F(3.0)
# round-to-nearest-integer by adding and subtracting 1.5 * 2^23 (|x| < 2^22)
_SHIFTER = _F(12582912.0)
# float32 elements per block of the PSF passes (8 KiB: stays in L1)
_CHUNK = 2048

_LOG2E = _F(1.4426950408889634)
# log(x) = log(m) + e ln 2, ln 2 split so that e * _LN2_HI is exact
_LN2_HI = _F(0.693359375)
_LN2_LO = _F(-2.12194440e-4)

# exp2: x = k + r, |r| <= 1/2, 2^r = 1 + r P(r)
_X0, _X1, _X2, _X3, _X4, _X5, _X6 = (_F(c) for c in (
    6.9314718055617075e-01, 2.4022650922556690e-01, 5.5504109084404278e-02, 9.6180566425189493e-03,
    1.3333476782528804e-03, 1.5461455279827365e-04, 1.5304087149240486e-05))
_EXP2_LO, _EXP2_HI = _F(-126.0), _F(127.0)
_INV_LN2 = _F(1.0 / np.log(2.0))

# log: x = 2^e m, m in [sqrt(1/2), sqrt(2)), log(1 + f) = f - f^2/2 + f^3 Q(f)
_SQRT2 = _F(1.4142135623730951)
_L = tuple(_F(c) for c in (
    0.3333332976727746, -0.24999989118366794, 0.20000828502855664, -0.16668516924792384,
    0.14247227274650068, -0.12409331504894108, 0.11681405452561198, -0.11587088869840888,
    0.07120532047308029))
_L0, _L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8 = _L

# atan: reduced to |z| <= tan(pi/8), atan(z) = z + z^3 R(z^2)
_TAN_3PI_8 = _F(2.414213562373095)
_TAN_PI_8 = _F(0.41421356237309503)
_PI_2, _PI_4 = _F(np.pi / 2), _F(np.pi / 4)
_A0, _A1, _A2, _A3, _A4 = (_F(c) for c in (
    -0.33333330882155465, 0.19999478937109566, -0.14262750925575465, 0.10734831853334549, -0.06429751256425027))

# sin, cos on [-pi/4, pi/4]: sin t = t + t^3 S(t^2), cos t = 1 - t^2/2 + t^4 C(t^2)
_TWO_PI, _FOUR, _QUARTER = _F(2 * np.pi), _F(4.0), _F(0.25)
_S0, _S1, _S2, _S3 = (_F(c) for c in (
    -1.6666666663293531e-01, 8.3333318025160738e-03, -1.9840063444959052e-04, 2.7247775177936709e-06))
_C0, _C1, _C2, _C3 = (_F(c) for c in (
    4.1666666663991624e-02, -1.3888887629789346e-03, 2.4800586775343344e-05, -2.7299704420426829e-07))

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


@intrinsic
def _frexp(typingctx, x):
    """``(m, e)`` with ``x = m 2^e``, ``m`` in [1, 2), both float32, for a
    positive normal float32 ``x``: integer operations on the bits, in 32-bit
    lanes (numba's own integer arithmetic widens to 64 bits, which halves the
    vector width)."""
    if x != types.float32:
        return None
    sig = types.UniTuple(types.float32, 2)(types.float32)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        bits = builder.bitcast(args[0], i32)
        exponent = builder.sub(builder.lshr(bits, ir.Constant(i32, 23)), ir.Constant(i32, 127))
        mantissa = builder.or_(builder.and_(bits, ir.Constant(i32, 0x007FFFFF)), ir.Constant(i32, 0x3F800000))
        values = [builder.bitcast(mantissa, ir.FloatType()), builder.sitofp(exponent, ir.FloatType())]
        return context.make_tuple(builder, signature.return_type, values)

    return sig, codegen


@intrinsic
def _exp2i(typingctx, k):
    """``2^k`` for a float32 integer ``k`` in [-126, 127] (exponent bits)."""
    if k != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        ki = builder.fptosi(args[0], i32)
        bits = builder.shl(builder.add(ki, ir.Constant(i32, 127)), ir.Constant(i32, 23))
        return builder.bitcast(bits, ir.FloatType())

    return types.float32(types.float32), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a b + c`` with one rounding (LLVM ``llvm.fma.f32``: exact IEEE, so the
    same bits on every machine; one instruction where the CPU has FMA)."""
    if not (a == types.float32 and b == types.float32 and c == types.float32):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float32(types.float32, types.float32, types.float32), codegen


@njit(inline="always", error_model="numpy")
def _log_reduced(x):
    """``(log(m), e)`` with ``x = m 2^e``, ``m`` in [sqrt(1/2), sqrt(2)), for a
    positive normal float32 ``x`` (the shared part of :func:`log32` and :func:`log2_32`)."""
    m, e = _frexp(x)
    big = m > _SQRT2
    m = m * _HALF if big else m
    e = e + _ONE if big else e
    f = m - _ONE
    q = _fma(_fma(_fma(_fma(_fma(_fma(_fma(_fma(_L8, f, _L7), f, _L6), f, _L5), f, _L4), f, _L3), f, _L2), f,
                  _L1), f, _L0)
    ff = f * f
    return _fma(ff * f, q, _fma(-_HALF, ff, f)), e


@njit(inline="always", error_model="numpy")
def log32(x):
    """Natural log in float32 of a positive, normal, finite ``x``."""
    y, e = _log_reduced(x)
    return _fma(e, _LN2_HI, _fma(e, _LN2_LO, y))


@njit(inline="always", error_model="numpy")
def exp2_32(x):
    """``2^x`` in float32 for finite ``x`` (clamped to [-126, 127])."""
    x = min(max(x, _EXP2_LO), _EXP2_HI)
    k = (x + _SHIFTER) - _SHIFTER
    r = x - k  # exact
    p = _fma(_fma(_fma(_fma(_fma(_fma(_X6, r, _X5), r, _X4), r, _X3), r, _X2), r, _X1), r, _X0)
    return _fma(r, p, _ONE) * _exp2i(k)


@njit(inline="always", error_model="numpy")
def log2_32(x):
    """Base-2 log in float32 of a positive, normal, finite ``x``."""
    y, e = _log_reduced(x)
    return _fma(y, _INV_LN2, e)


@njit(inline="always", error_model="numpy")
def atan_ratio32(x, y):
    """``arctan(x / y)`` in float32 for ``y > 0``, with one division: the
    reduction to ``|z| <= tan(pi/8)`` (``z = -1/a`` above ``tan(3 pi/8)``,
    ``(a - 1)/(a + 1)`` above ``tan(pi/8)``, ``a = |x/y|``) applied to the
    numerator and denominator, then ``z + z^3 R(z^2)``."""
    a = abs(x)
    big = a > _TAN_3PI_8 * y
    mid = a > _TAN_PI_8 * y
    num = -y if big else (a - y if mid else a)
    den = a if big else (a + y if mid else y)
    z = num / den
    y0 = _PI_2 if big else (_PI_4 if mid else _ZERO)
    zz = z * z
    p = _fma(_fma(_fma(_fma(_A4, zz, _A3), zz, _A2), zz, _A1), zz, _A0)
    r = y0 + _fma(z * zz, p, z)
    return r if x >= _ZERO else -r


@njit(inline="always", error_model="numpy")
def sincos_2pi32(u):
    """``(sin 2 pi u, cos 2 pi u)`` in float32 for ``u`` in [0, 1]."""
    k = (u * _FOUR + _SHIFTER) - _SHIFTER  # quadrant 0..4
    t = (u - k * _QUARTER) * _TWO_PI  # [-pi/4, pi/4]
    tt = t * t
    s = _fma(t * tt, _fma(_fma(_fma(_S3, tt, _S2), tt, _S1), tt, _S0), t)
    c = _fma(tt * tt, _fma(_fma(_fma(_C3, tt, _C2), tt, _C1), tt, _C0), _fma(-_HALF, tt, _ONE))
    # rotate by k pi/2 (k = 4 is k = 0) without branches: k = 1, 3 swap sin
    # and cos; sin changes sign for k = 2, 3, cos for k = 1, 2
    swap = (k == _ONE) | (k == _THREE)
    a = c if swap else s
    b = s if swap else c
    sin = -a if (k == _TWO) | (k == _THREE) else a
    cos = -b if (k == _ONE) | (k == _TWO) else b
    return sin, cos


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
    r2 = _fma(cxx * dx, dx, _fma(cyy * dy, dy, (cxy * dy) * dx))
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
        psi = math.sqrt(_fma(t, t, yp * yp))
        a1 = atan_ratio32(xe, psi + s1)
        # arctanh(eps y' / (psi + s2)) = log((psi + s2 + eps y') / (psi + s2 - eps y')) / 2
        d = psi + s2
        v = eps * yp
        a2 = _HALF * log32((d + v) / (d - v))
        ax[i] = _fma(cs, a1, -ss * a2) + _fma(g1, x, g2 * y)
        ay[i] = _fma(ss, a1, cs * a2) + _fma(g2, x, -g1 * y)
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
        dst[i] = _fma(w, a[i] + b[i], dst[i])


@njit(inline="always", error_model="numpy")
def _pairs3(dst, a0, b0, a1, b1, a2, b2, w0, w1, w2):
    for i in range(dst.shape[0]):
        dst[i] = _fma(w0, a0[i] + b0[i], _fma(w1, a1[i] + b1[i], _fma(w2, a2[i] + b2[i], dst[i])))


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
