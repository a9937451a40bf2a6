"""Compiled float32 optics of the simulator (numba): separable PSF convolution, noise, arc S/N.

The separable Gaussian convolution and the counter-based noise that
:mod:`lensfinder.simulation.compiled` applies image by image, and the
integrated S/N of the lensed light (``arc_snr``) with the amplitude that
reaches a wanted S/N. Design and reproducibility: ``docs/simulation.md``
(compiled kernels). numba caches a kernel by its own file's contents: after
editing this module, update ``KERNEL_SOURCES_SHA256`` (below) in each kernel module.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lensfinder.simulation.fastmath import fma, log32, sincos_2pi32

#: sha256 of the sources of the kernel modules (``compiled``, ``compiled_optics``, ``compiled_sersic``,
#: ``fastmath``; these lines left out). numba caches a kernel by the contents of its own file alone, so a
#: change in a module it calls would leave the cached kernel stale: each caching module carries this line,
#: and tests/simulation/test_kernels.py fails, printing the new value, until it is updated in all three.
KERNEL_SOURCES_SHA256 = "50c75e981e98e641520a5c19302b7aa619e2fa9b5eb18c73c783dfd778320e5f"

__all__ = ["convolve_separable", "convolve_buffers", "convolve_one", "add_noise", "noise_one", "standard_normals",
           "arc_snr_one", "convolved_arc_snr", "solve_arc_scale"]

_F = np.float32
_ZERO, _ONE = _F(0.0), _F(1.0)
_TINY = _F(1e-30)  # floor of the variance in the arc S/N terms
# float32 elements per block of the PSF passes (8 KiB: stays in L1)
_CHUNK = 2048
_ALIGN = 16  # float32 per 64 bytes

# SplitMix64 (Steele, Lea & Flood 2014)
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U16, _U27, _U30, _U31, _U40 = (np.uint64(s) for s in (16, 27, 30, 31, 40))
_MASK24 = np.uint64(0xFFFFFF)
_ULP24 = _F(2.0**-24)
_MINUS_TWO = _F(-2.0)


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



@njit(cache=True, error_model="numpy")
def convolve_separable(images, taps, out, ny, nx):
    """Convolve each image with the separable kernel ``taps[b] (x) taps[b]``,
    zero outside the image ('same' size), into ``out``.

    ``images``, ``out``: float32 (B, ny nx), the images flattened (C order);
    ``taps``: float32 (B, T), T odd, symmetric (``taps[:, t] == taps[:, T-1-t]``:
    the rows of :func:`lensfinder.simulation.optics.gaussian_taps` are; only half are read).

    Both passes run over the image as one flat array with zero margins (r
    rows above and below, at least r columns left and right, r = (T - 1) / 2;
    :func:`convolve_buffers`), so the
    vector loops are long and need no bounds: along columns the taps are
    shifts by whole padded rows, along rows shifts by pixels. Symmetric taps
    are added in pairs, three pairs per sweep of a block that stays in L1.
    """
    src, cols, acc = convolve_buffers(ny, nx, (taps.shape[1] - 1) // 2)
    for b in range(images.shape[0]):
        convolve_one(images[b], taps[b], out[b], ny, nx, src, cols, acc)


@njit(cache=True, error_model="numpy")
def convolve_buffers(ny, nx, r):
    """Scratch of :func:`convolve_one`; the zero margins of the first two stay zero.

    The padded rows are :func:`_padded_width` wide and the column pass's
    blocks start on 64-byte boundaries (``src[0]``, ``cols[r]``), so that its
    loads and stores, whole padded rows apart, are aligned (~10% faster than
    rows of ``nx + 2 r``; the extra columns are zeros like the margins, the
    results the same bits)."""
    width = _padded_width(nx, r)
    body = ny * width  # the padded rows that hold the image
    return (_aligned_zeros((ny + 2 * r) * width, 0), _aligned_zeros(body + 2 * r, r), _aligned_zeros(body, 0))


@njit(inline="always", error_model="numpy")
def _padded_width(nx, r):
    """Padded row length of the PSF passes: ``nx + 2 r`` up to a multiple of 16 float32 (64 bytes)."""
    return (nx + 2 * r + _ALIGN - 1) // _ALIGN * _ALIGN


@njit(inline="always", error_model="numpy")
def _aligned_zeros(n, first):
    """float32 zeros (n,) whose element ``first`` lies on a 64-byte boundary."""
    buf = np.zeros(n + _ALIGN, dtype=np.float32)
    skip = (_ALIGN - (buf.ctypes.data // 4 + first) % _ALIGN) % _ALIGN
    return buf[skip:skip + n]


@njit(cache=True, error_model="numpy")
def convolve_one(img, k, dst, ny, nx, src, cols, acc):
    """One image of :func:`convolve_separable` (flat ``img`` -> flat ``dst``)."""
    _convolve_padded(img, k, ny, nx, src, cols, acc)
    r = (k.shape[0] - 1) // 2
    width = _padded_width(nx, r)
    for y in range(ny):
        _copy(dst[y * nx:(y + 1) * nx], acc[y * width + r:y * width + r + nx])


@njit(inline="always", error_model="numpy")
def _convolve_padded(img, k, ny, nx, src, cols, acc):
    """The two passes of :func:`convolve_one`: row ``y`` of the result is
    ``acc[y width + r:y width + r + nx]`` (``width``: :func:`_padded_width`)."""
    r = (k.shape[0] - 1) // 2
    width = _padded_width(nx, r)
    body = ny * width
    for y in range(ny):
        base = (y + r) * width + r
        _copy(src[base:base + nx], img[y * nx:(y + 1) * nx])
    _symmetric_pass(cols[r:r + body], src, r * width, width, k, r)
    _symmetric_pass(acc, cols, r, 1, k, r)


@njit(inline="always", error_model="numpy")
def _copy(dst, src):
    """``dst[:] = src`` as a loop over views (numba's slice assignment costs
    ~0.1 us a call; indexing by ``base + x`` with a run-time ``base`` keeps
    LLVM from vectorising, as it cannot rule out negative indices)."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


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
            noise_one(images[b], sky_sigma[b], inv_gain[b], seeds[b], normals)


@njit(cache=True, error_model="numpy")
def noise_one(img, sky, ig, seed, normals):
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



@njit(cache=True, error_model="numpy")
def arc_snr_one(arc, total, sky, inv_gain, terms):
    """Integrated S/N of the lensed light of one image: ``sqrt(sum arc^2 / var)``,
    ``var = sky^2 + max(total, 0) inv_gain`` per pixel (``arc``, ``total``: the
    noiseless, PSF-convolved lensed light and whole image, flat float32;
    ``total >= arc >= 0``, so ``var > 0`` wherever there is lensed light unless
    there is no noise at all: then infinite), and its visible part
    (``arc_visible_snr``): the same sum over the pixels where the lensed light
    outshines the rest, ``arc > total - arc``. ``terms``: float32 scratch of
    shape (2, at least ``len(arc) + 8``).

    The float32 terms come from one vector loop; they are summed in float64
    by eight accumulators in a fixed order (no reassociation): :func:`_sum8`."""
    var0 = np.float32(sky) * np.float32(sky)
    ig = np.float32(inv_gain)
    if var0 <= _ZERO and ig <= _ZERO:
        return np.inf, np.inf
    n = arc.shape[0]
    blocks = _blocks8(terms[0], n)
    visible = _blocks8(terms[1], n)
    for i in range(n):
        t = _snr_term(arc[i], total[i], var0, ig)
        terms[0, i] = t
        terms[1, i] = t if arc[i] + arc[i] > total[i] else _ZERO
    zero = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return (_sqrt_total(_sum8(blocks, 0, blocks.shape[0], zero)),
            _sqrt_total(_sum8(visible, 0, visible.shape[0], zero)))


@njit(cache=True, error_model="numpy")
def convolved_arc_snr(lensed, k, total, ny, nx, sky, inv_gain, src, cols, acc, terms):
    """``arc_snr_one(convolve_one(lensed, k, ...), total, sky, inv_gain, terms)``,
    the same bits, without writing out the convolved lensed light: its S/N
    terms come straight from the convolution's last pass, a row at a time,
    and the sums (chains of dependent float64 additions) take each row's
    complete blocks of eight terms as they come, so that the CPU overlaps
    them with the next row's terms. Scratch: ``src, cols, acc`` of
    :func:`convolve_buffers`, ``terms`` float32 (2, at least ``ny nx + 8``).
    Returns ``(arc_snr, arc_visible_snr)``."""
    var0 = np.float32(sky) * np.float32(sky)
    ig = np.float32(inv_gain)
    if var0 <= _ZERO and ig <= _ZERO:
        return np.inf, np.inf
    _convolve_padded(lensed, k, ny, nx, src, cols, acc)
    r = (k.shape[0] - 1) // 2
    width = _padded_width(nx, r)
    blocks = _blocks8(terms[0], ny * nx)
    visible = _blocks8(terms[1], ny * nx)
    sums = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    vsums = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    done = 0  # blocks summed
    for y in range(ny):
        arc = acc[y * width + r:y * width + r + nx]
        tot = total[y * nx:(y + 1) * nx]
        out = terms[0, y * nx:(y + 1) * nx]
        vis = terms[1, y * nx:(y + 1) * nx]
        for x in range(nx):
            t = _snr_term(arc[x], tot[x], var0, ig)
            out[x] = t
            vis[x] = t if arc[x] + arc[x] > tot[x] else _ZERO
        ready = (y + 1) * nx // 8
        sums = _sum8(blocks, done, ready, sums)
        vsums = _sum8(visible, done, ready, vsums)
        done = ready
    return (_sqrt_total(_sum8(blocks, done, blocks.shape[0], sums)),
            _sqrt_total(_sum8(visible, done, visible.shape[0], vsums)))


@njit(inline="always", error_model="numpy")
def _snr_term(a, total, var0, ig):
    """One pixel's ``a^2 / var`` (float32) of :func:`arc_snr_one`."""
    return a * a / max(var0 + max(total, _ZERO) * ig, _TINY)


@njit(inline="always", error_model="numpy")
def _blocks8(terms, n):
    """``terms[:n]`` padded with zeros to whole blocks of eight, as an (m, 8) view."""
    m = (n + 7) // 8
    for i in range(n, 8 * m):
        terms[i] = _ZERO
    return terms[:8 * m].reshape((m, 8))


@njit(inline="always", error_model="numpy")
def _sum8(blocks, j0, j1, sums):
    """The eight float64 accumulators ``sums`` plus the blocks ``j0 .. j1 - 1``:
    accumulator ``i`` takes the terms ``i, i + 8, ...`` in order (the loop over
    the (m, 8) view, whose indices LLVM knows are in range, keeps these
    latency-bound chains free of index arithmetic)."""
    s0, s1, s2, s3, s4, s5, s6, s7 = sums
    for j in range(j0, j1):
        t = blocks[j]
        s0 += t[0]
        s1 += t[1]
        s2 += t[2]
        s3 += t[3]
        s4 += t[4]
        s5 += t[5]
        s6 += t[6]
        s7 += t[7]
    return s0, s1, s2, s3, s4, s5, s6, s7


@njit(inline="always", error_model="numpy")
def _sqrt_total(sums):
    """``sqrt`` of the eight accumulators of :func:`_sum8`, added pairwise."""
    s0, s1, s2, s3, s4, s5, s6, s7 = sums
    return math.sqrt(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))


@njit(cache=True, error_model="numpy")
def solve_arc_scale(arc, rest, sky, inv_gain, target):
    """Factor ``k`` on the lensed light ``arc`` that gives it the integrated
    S/N ``target`` (:func:`arc_snr_one`) over the unlensed light ``rest``:
    ``S(k) = k^2 sum arc^2 / (sky^2 + max(rest + k arc, 0) inv_gain) = target^2``,
    solved by Newton steps in ``log k`` (``d log S / d log k`` lies in [1, 2]: a
    few steps from k = 1); relative tolerance 1e-6 on the S/N."""
    var0 = np.float64(sky) * np.float64(sky)
    ig = np.float64(inv_gain)
    log_t2 = 2.0 * math.log(np.float64(target))
    k = 1.0
    for _ in range(100):
        s = 0.0
        ds = 0.0
        for i in range(arc.shape[0]):
            a = np.float64(arc[i])
            if a == 0.0:
                continue
            t = np.float64(rest[i]) + k * a
            poisson = t > 0.0
            var = var0 + (t * ig if poisson else 0.0)
            if var <= 0.0:
                return 0.0
            aa = a * a / var
            s += aa
            ds += aa * (a * ig / var if poisson else 0.0)
        if not s > 0.0:
            return np.nan
        g = 2.0 * math.log(k) + math.log(s) - log_t2  # log S(k) - log target^2
        if abs(g) < 2e-6:
            return k
        slope = 2.0 - k * ds / s  # d log S / d log k
        k *= math.exp(-g / max(slope, 0.5))
    return k
