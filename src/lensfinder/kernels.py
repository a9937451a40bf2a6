"""Compiled float32 kernels of the simulator's hot path (numba).

One pass per image over its pixels computes the unlensed light, the lens
deflection (SIE + external shear + SIS subhaloes + an optional precomputed
perturbation) and the lensed light; a separable pass convolves with the
Gaussian PSF; a last pass adds the noise. The physics and the conventions are
those of :mod:`lensfinder.lensing` (lenstronomy's ``SIE``, ``SHEAR``, ``SIS``
and ``SERSIC_ELLIPSE``), whose numpy functions stay the reference the tests
compare these kernels with.

Why compiled, and why its own elementary functions
--------------------------------------------------
numpy's float32 ``exp``/``log`` are SIMD and cost ~1 ns per pixel, but a
101 x 101 image needs ~60 array passes, and their memory traffic and the
per-call overhead kept the numpy renderer at ~300 us per image (4x
lenstronomy). A fused loop needs vectorised ``exp``, ``log``, ``atan`` and
``sin``/``cos``: the llvmlite wheels from PyPI are built without Intel SVML,
so numba calls the scalar libm for ``math.exp`` (2.6 ns per element against
numpy's 0.6 ns, measured here) and LLVM cannot vectorise the loop. The
functions below are polynomial approximations on a reduced range (Cody-Waite
reduction and least-squares polynomials fitted in float64 over Chebyshev
nodes), written in plain float32 arithmetic and integer bit operations, so
that LLVM vectorises the loops that call them. Their accuracy (a few float32
ulp over the ranges used) is checked against numpy in ``tests/test_kernels.py``;
``benchmarks/simulate.py`` measures the result against lenstronomy.

Reproducibility: no ``fastmath`` (no reassociation, no FMA contraction), so
every operation is IEEE float32 and the same image comes out bit for bit
whether it is rendered alone or in a batch, and on any x86-64 vector width.

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

__all__ = ["exp32", "log32", "exp2_32", "log2_32", "atan32", "sincos_2pi32", "uniform_pairs", "render_light", "convolve_separable",
           "add_noise", "standard_normals"]


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

# exp: x = k ln2 + r, |r| <= ln2/2, e^r = 1 + r + r^2 P(r)
_EXP_LO, _EXP_HI = _F(-87.0), _F(88.0)
_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693359375)  # 9 significant bits: k * _LN2_HI is exact
_LN2_LO = _F(-2.12194440e-4)
_E0, _E1, _E2, _E3, _E4, _E5 = (_F(c) for c in (
    5.0000000182971049e-01, 1.6666666719496800e-01, 4.1666448985579002e-02,
    8.3332983503604588e-03, 1.3934705400970042e-03, 1.9899353427831390e-04))

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


@njit(inline="always", error_model="numpy")
def exp32(x):
    """``exp(x)`` in float32 for finite ``x`` (clamped to [-87, 88])."""
    x = min(max(x, _EXP_LO), _EXP_HI)
    k = (x * _LOG2E + _SHIFTER) - _SHIFTER
    r = x - k * _LN2_HI
    r = r - k * _LN2_LO
    p = ((((_E5 * r + _E4) * r + _E3) * r + _E2) * r + _E1) * r + _E0
    y = (r * r) * p + r + _ONE
    return y * _exp2i(k)


@njit(inline="always", error_model="numpy")
def log32(x):
    """Natural log in float32 of a positive, normal, finite ``x``."""
    m, e = _frexp(x)
    big = m > _SQRT2
    m = m * _HALF if big else m
    e = e + _ONE if big else e
    f = m - _ONE
    q = (((((((_L8 * f + _L7) * f + _L6) * f + _L5) * f + _L4) * f + _L3) * f + _L2) * f + _L1) * f + _L0
    ff = f * f
    y = (ff * f) * q - _HALF * ff + f
    return (y + e * _LN2_LO) + e * _LN2_HI


@njit(inline="always", error_model="numpy")
def exp2_32(x):
    """``2^x`` in float32 for finite ``x`` (clamped to [-126, 127])."""
    x = min(max(x, _EXP2_LO), _EXP2_HI)
    k = (x + _SHIFTER) - _SHIFTER
    r = x - k  # exact
    p = (((((_X6 * r + _X5) * r + _X4) * r + _X3) * r + _X2) * r + _X1) * r + _X0
    return (r * p + _ONE) * _exp2i(k)


@njit(inline="always", error_model="numpy")
def log2_32(x):
    """Base-2 log in float32 of a positive, normal, finite ``x``."""
    m, e = _frexp(x)
    big = m > _SQRT2
    m = m * _HALF if big else m
    e = e + _ONE if big else e
    f = m - _ONE
    q = (((((((_L8 * f + _L7) * f + _L6) * f + _L5) * f + _L4) * f + _L3) * f + _L2) * f + _L1) * f + _L0
    ff = f * f
    return ((ff * f) * q - _HALF * ff + f) * _INV_LN2 + e


@njit(inline="always", error_model="numpy")
def atan32(x):
    """``arctan(x)`` in float32 (finite ``x``)."""
    a = abs(x)
    big = a > _TAN_3PI_8
    mid = a > _TAN_PI_8
    num = -_ONE if big else (a - _ONE if mid else a)
    den = a if big else (a + _ONE if mid else _ONE)
    z = num / den
    y0 = _PI_2 if big else (_PI_4 if mid else _ZERO)
    zz = z * z
    p = (((_A4 * zz + _A3) * zz + _A2) * zz + _A1) * zz + _A0
    y = y0 + (z + (z * zz) * p)
    return y if x >= _ZERO else -y


@njit(inline="always", error_model="numpy")
def sincos_2pi32(u):
    """``(sin 2 pi u, cos 2 pi u)`` in float32 for ``u`` in [0, 1]."""
    k = (u * _FOUR + _SHIFTER) - _SHIFTER  # quadrant 0..4
    t = (u - k * _QUARTER) * _TWO_PI  # [-pi/4, pi/4]
    tt = t * t
    s = t + (t * tt) * (((_S3 * tt + _S2) * tt + _S1) * tt + _S0)
    c = _ONE - _HALF * tt + (tt * tt) * (((_C3 * tt + _C2) * tt + _C1) * tt + _C0)
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
    u1 = _F(np.int64((z >> _U40) + np.uint64(1))) * _ULP24
    u2 = _F(np.int64((z >> _U16) & _MASK24)) * _ULP24
    return u1, u2


@njit(cache=True, error_model="numpy")
def uniform_pairs(seed, n):
    """The first ``n`` uniform pairs of the noise stream of ``seed`` (for tests), shape (n, 2)."""
    base = _splitmix(np.uint64(seed))
    out = np.empty((n, 2), dtype=np.float32)
    for j in range(n):
        u1, u2 = _pair(base, j)
        out[j, 0] = u1
        out[j, 1] = u2
    return out


@njit(inline="always", error_model="numpy")
def _sersic(dx, dy, cxx, cyy, cxy, r2_floor, inv_2n, minus_bn_log2e, amp):
    """Sersic surface brightness at offsets ``dx, dy`` from the centre: the
    coefficients of :func:`lensfinder.lensing.sersic_coefficients` as scalars
    (held in registers by the pixel loops), with ``-b_n`` times log2(e)
    (:func:`_sersic_args`): ``amp 2^(-b_n log2(e) R^(1/n))`` in base 2."""
    r2 = (cxx * dx) * dx + (cyy * dy) * dy
    r2 = r2 + (cxy * dy) * dx
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
    ``factor x factor`` sub-pixel average (float64 accumulation)."""
    n = img.shape[0]
    c0 = (n - 1) / 2.0
    col = min(max(int(np.rint(np.float64(c[0]) / scale + c0)), radius), n - 1 - radius)
    row = min(max(int(np.rint(np.float64(c[1]) / scale + c0)), radius), n - 1 - radius)
    sub = np.empty(factor, dtype=np.float32)
    for i in range(factor):
        sub[i] = _F(((i + 0.5) / factor - 0.5) * scale)
    inv = 1.0 / (factor * factor)
    cxx, cyy, cxy, r2_floor, inv_2n, mb, amp = _sersic_args(c)
    for iy in range(row - radius, row + radius + 1):
        for ix in range(col - radius, col + radius + 1):
            acc = 0.0
            for a in range(factor):
                dy = (yg[iy] + sub[a]) - c[1]
                for b in range(factor):
                    acc += _sersic((xg[ix] + sub[b]) - c[0], dy, cxx, cyy, cxy, r2_floor, inv_2n, mb, amp)
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
        Sersic coefficients (:func:`lensfinder.lensing.sersic_coefficients`)
        of the unlensed components; amplitude 0 skips one.
    sie : float32 (B, 12)
        :func:`lensfinder.lensing.sie_coefficients` per image.
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
    n_img, n = out.shape[0], out.shape[1]
    npix = n * n
    gx = np.empty(npix, dtype=np.float32)  # the grid, flat
    gy = np.empty(npix, dtype=np.float32)
    for iy in range(n):
        for ix in range(n):
            gx[iy * n + ix] = xg[ix]
            gy[iy * n + ix] = yg[iy]
    ax = np.empty(npix, dtype=np.float32)  # deflection, then source-plane position
    ay = np.empty(npix, dtype=np.float32)
    for b in range(n_img):
        img = out[b].reshape(npix)
        img[:] = _ZERO
        for k in range(unlensed.shape[1]):
            c = unlensed[b, k]
            if c[8] != _ZERO:
                _add_sersic(img, gx, gy, c)
                if ss_factor > 1:
                    _supersample(out[b], xg, yg, c, scale, ss_factor, ss_radius)
        lensed_any = False
        for k in range(lensed.shape[1]):
            if lensed[b, k, 8] != _ZERO:
                lensed_any = True
        if not lensed_any:
            continue
        s = sie[b]
        cx, cy, ce, se, cos, sin, q_over_eps, s1, s2, eps, cs, ss = (
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11])
        g1, g2 = shear[b, 0], shear[b, 1]
        for i in range(npix):
            x = gx[i]
            y = gy[i]
            dx = x - cx
            dy = y - cy
            xe = ce * dx + se * dy  # eps x'
            yp = cos * dy - sin * dx  # y'
            t = xe * q_over_eps
            psi = math.sqrt(t * t + yp * yp)
            a1 = atan32(xe / (psi + s1))
            w = eps * (yp / (psi + s2))
            a2 = _HALF * log32((_ONE + w) / (_ONE - w))  # arctanh
            ax[i] = (cs * a1 - ss * a2) + (g1 * x + g2 * y)
            ay[i] = (ss * a1 + cs * a2) + (g2 * x - g1 * y)
        for k in range(subhalo.shape[1]):
            th = subhalo[b, k, 0]
            if th == _ZERO:
                continue
            sx, sy = subhalo[b, k, 1], subhalo[b, k, 2]
            for i in range(npix):
                dx = gx[i] - sx
                dy = gy[i] - sy
                r = math.sqrt(dx * dx + dy * dy)
                a = th / r if r > _ZERO else _ZERO
                ax[i] += a * dx
                ay[i] += a * dy
        m = extra_index[b]
        if m >= 0:
            ex = extra_deflection[m, 0].reshape(npix)
            ey = extra_deflection[m, 1].reshape(npix)
            for i in range(npix):
                ax[i] += ex[i]
                ay[i] += ey[i]
        for i in range(npix):
            ax[i] = gx[i] - ax[i]
            ay[i] = gy[i] - ay[i]
        for k in range(lensed.shape[1]):
            if lensed[b, k, 8] != _ZERO:
                _add_sersic(img, ax, ay, lensed[b, k])


@njit(cache=True, error_model="numpy")
def convolve_separable(images, taps, out, ny, nx):
    """Convolve each image with the separable kernel ``taps[b] (x) taps[b]``,
    zero outside the image ('same' size), into ``out``.

    ``images``, ``out``: float32 (B, ny nx), the images flattened (C order);
    ``taps``: float32 (B, T), T odd.

    Both passes run over whole images as flat arrays, so that the vector loops
    are long: along columns a shift by whole rows, along rows a shift within
    rows padded with ``(T - 1) / 2`` zeros on each side.
    """
    n_img = images.shape[0]
    n_taps = taps.shape[1]
    r = (n_taps - 1) // 2
    npix = ny * nx
    width = nx + 2 * r
    n_padded = ny * width
    tmp = np.empty(npix, dtype=np.float32)
    padded = np.zeros(n_padded + 2 * r, dtype=np.float32)  # the pads stay zero
    acc = np.empty(n_padded, dtype=np.float32)
    for b in range(n_img):
        img = images[b]
        # in chunks that stay in the L1 cache while every tap is added
        for c0 in range(0, npix, _CHUNK):
            c1 = min(c0 + _CHUNK, npix)
            tmp[c0:c1] = _ZERO
            t = 0  # along columns: row y takes rows y - r .. y + r
            if c0 - r * nx >= 0 and c1 + r * nx <= npix:  # every tap inside the image
                while t + 4 <= n_taps:
                    o = (t - r) * nx
                    _axpy4(tmp[c0:c1], img[c0 + o:c1 + o], img[c0 + o + nx:c1 + o + nx],
                           img[c0 + o + 2 * nx:c1 + o + 2 * nx], img[c0 + o + 3 * nx:c1 + o + 3 * nx],
                           taps[b, t], taps[b, t + 1], taps[b, t + 2], taps[b, t + 3])
                    t += 4
            for t in range(t, n_taps):
                off = (t - r) * nx
                lo = max(c0, -off)
                hi = min(c1, npix - off)
                if lo < hi:
                    _axpy(tmp[lo:hi], img[lo + off:hi + off], taps[b, t])
        for y in range(ny):
            padded[y * width + r:y * width + r + nx] = tmp[y * nx:(y + 1) * nx]
        for c0 in range(0, n_padded, _CHUNK):
            c1 = min(c0 + _CHUNK, n_padded)
            acc[c0:c1] = _ZERO
            # along rows: output (y, x) is acc[y * width + x]; four taps per
            # pass over the block (a quarter of the loads and stores of acc)
            t = 0
            while t + 4 <= n_taps:
                _axpy4(acc[c0:c1], padded[c0 + t:c1 + t], padded[c0 + t + 1:c1 + t + 1],
                       padded[c0 + t + 2:c1 + t + 2], padded[c0 + t + 3:c1 + t + 3],
                       taps[b, t], taps[b, t + 1], taps[b, t + 2], taps[b, t + 3])
                t += 4
            for t in range(t, n_taps):
                _axpy(acc[c0:c1], padded[c0 + t:c1 + t], taps[b, t])
        dst = out[b]
        for y in range(ny):
            for x in range(nx):
                dst[y * nx + x] = acc[y * width + x]


@njit(inline="always", error_model="numpy")
def _axpy(dst, src, w):
    """``dst += w src`` (1-D, equal lengths)."""
    for i in range(dst.shape[0]):
        dst[i] += w * src[i]


@njit(inline="always", error_model="numpy")
def _axpy4(dst, s0, s1, s2, s3, w0, w1, w2, w3):
    """``dst += ((w0 s0 + w1 s1) + (w2 s2 + w3 s3))`` (1-D, equal lengths)."""
    for i in range(dst.shape[0]):
        dst[i] += (w0 * s0[i] + w1 * s1[i]) + (w2 * s2[i] + w3 * s3[i])


@njit(cache=True, error_model="numpy")
def add_noise(images, sky_sigma, inv_gain, seeds, noisy):
    """Add Gaussian sky/read-out noise and Poisson noise (Gaussian
    approximation) in place: ``image += sqrt(sky^2 + max(image, 0) inv_gain) N(0, 1)``.

    ``images``: float32 (B, npix), the images flattened; ``sky_sigma``,
    ``inv_gain``: float32 (B,); ``seeds``: uint64 (B,) (each image's
    ``image_seed``); ``noisy``: bool (B,), False leaves an image noiseless.
    """
    n_img, npix = images.shape
    h = (npix + 1) // 2
    normals = np.empty(2 * h, dtype=np.float32)
    for b in range(n_img):
        if not noisy[b]:
            continue
        _normals(normals, _splitmix(seeds[b]), h)
        img = images[b]
        var0 = sky_sigma[b] * sky_sigma[b]
        ig = inv_gain[b]
        for i in range(npix):
            p = img[i]
            img[i] = p + math.sqrt(var0 + max(p, _ZERO) * ig) * normals[i]


@njit(inline="always", error_model="numpy")
def _normals(out, base, h):
    """Output ``j`` of the stream ``base`` gives the normals ``j`` and ``j + h``
    of ``out`` (length ``2 h``) by Box-Muller."""
    lo = out[:h]
    hi = out[h:]
    for j in range(h):
        u1, u2 = _pair(base, j)
        rad = math.sqrt(_MINUS_TWO * log32(u1))
        s, c = sincos_2pi32(u2)
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
