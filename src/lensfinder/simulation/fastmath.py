"""Float32 elementary functions that LLVM vectorises, for the compiled kernels (numba).

``log32``, ``exp2_32``, ``log2_32``, ``atan_ratio32`` and ``sincos_2pi32`` are
polynomial approximations in IEEE float32 arithmetic with explicit fused
multiply-adds (:func:`fma`), the same bits on every machine and at every
vector width; why and how: ``docs/simulation.md`` (compiled kernels).
numba caches a kernel by its own file's contents: after editing this module,
update ``KERNEL_SOURCES_SHA256`` in the kernel modules that call it (the tests say so).
"""

from __future__ import annotations

import llvmlite.binding as _llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from lensfinder.hostcpu import has_avx512

__all__ = ["PREFER_512_BIT", "prefer_512_bit_vectors", "fma", "log32", "exp2_32", "log2_32", "atan_ratio32",
           "sincos_2pi32"]


def prefer_512_bit_vectors() -> bool:
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
    if not has_avx512(features):
        return False
    config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"
    return True


PREFER_512_BIT = prefer_512_bit_vectors()

_F = np.float32
_ZERO, _ONE, _HALF, _TWO, _THREE = _F(0.0), _F(1.0), _F(0.5), _F(2.0), _F(3.0)
# round-to-nearest-integer by adding and subtracting 1.5 * 2^23 (|x| < 2^22)
_SHIFTER = _F(12582912.0)

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
def fma(typingctx, a, b, c):
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
    q = fma(fma(fma(fma(fma(fma(fma(fma(_L8, f, _L7), f, _L6), f, _L5), f, _L4), f, _L3), f, _L2), f,
                  _L1), f, _L0)
    ff = f * f
    return fma(ff * f, q, fma(-_HALF, ff, f)), e


@njit(inline="always", error_model="numpy")
def log32(x):
    """Natural log in float32 of a positive, normal, finite ``x``."""
    y, e = _log_reduced(x)
    return fma(e, _LN2_HI, fma(e, _LN2_LO, y))


@njit(inline="always", error_model="numpy")
def exp2_32(x):
    """``2^x`` in float32 for finite ``x`` (clamped to [-126, 127])."""
    x = min(max(x, _EXP2_LO), _EXP2_HI)
    k = (x + _SHIFTER) - _SHIFTER
    r = x - k  # exact
    p = fma(fma(fma(fma(fma(fma(_X6, r, _X5), r, _X4), r, _X3), r, _X2), r, _X1), r, _X0)
    return fma(r, p, _ONE) * _exp2i(k)


@njit(inline="always", error_model="numpy")
def log2_32(x):
    """Base-2 log in float32 of a positive, normal, finite ``x``."""
    y, e = _log_reduced(x)
    return fma(y, _INV_LN2, e)


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
    p = fma(fma(fma(fma(_A4, zz, _A3), zz, _A2), zz, _A1), zz, _A0)
    r = y0 + fma(z * zz, p, z)
    return r if x >= _ZERO else -r


@njit(inline="always", error_model="numpy")
def sincos_2pi32(u):
    """``(sin 2 pi u, cos 2 pi u)`` in float32 for ``u`` in [0, 1]."""
    k = (u * _FOUR + _SHIFTER) - _SHIFTER  # quadrant 0..4
    t = (u - k * _QUARTER) * _TWO_PI  # [-pi/4, pi/4]
    tt = t * t
    s = fma(t * tt, fma(fma(fma(_S3, tt, _S2), tt, _S1), tt, _S0), t)
    c = fma(tt * tt, fma(fma(fma(_C3, tt, _C2), tt, _C1), tt, _C0), fma(-_HALF, tt, _ONE))
    # rotate by k pi/2 (k = 4 is k = 0) without branches: k = 1, 3 swap sin
    # and cos; sin changes sign for k = 2, 3, cos for k = 1, 2
    swap = (k == _ONE) | (k == _THREE)
    a = c if swap else s
    b = s if swap else c
    sin = -a if (k == _TWO) | (k == _THREE) else a
    cos = -b if (k == _ONE) | (k == _TWO) else b
    return sin, cos
