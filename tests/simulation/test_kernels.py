"""The compiled kernels (and their float32 functions, fastmath.py) against numpy/scipy and lensing.py."""

import math

import numba
import numpy as np
import pytest
from scipy import stats

from lensfinder.simulation import compiled as kernels, fastmath, lensing
from lensfinder.simulation.optics import add_noise, pixel_grid

from helpers.early_runs import early_test


def _elementwise(fn):
    """A compiled loop applying the scalar kernel function ``fn`` to a float32 array."""
    @numba.njit
    def apply(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = fn(x[i])
        return out

    return apply


FUNCTIONS = {
    "log": fastmath.log32, "exp2": fastmath.exp2_32, "log2": fastmath.log2_32,
    "atan": numba.njit(lambda x: fastmath.atan_ratio32(x, np.float32(1.0))),
    "sin": numba.njit(lambda u: fastmath.sincos_2pi32(u)[0]),
    "cos": numba.njit(lambda u: fastmath.sincos_2pi32(u)[1]),
}


ULP = 2.0**-23


@pytest.mark.parametrize("name, draw, reference, max_ulp", [
    ("log", lambda r: np.exp(r.uniform(-85, 85, 200_000)), np.log, 2),
    ("exp2", lambda r: r.uniform(-125, 126, 200_000), np.exp2, 2),
    ("log2", lambda r: np.exp(r.uniform(-85, 85, 200_000)), np.log2, 2),
    ("atan", lambda r: np.r_[r.uniform(-3, 3, 100_000), 50 * r.standard_cauchy(100_000)], np.arctan, 3),
])
def test_elementary_functions_are_accurate_to_a_few_float32_ulp(name, draw, reference, max_ulp):
    x = draw(np.random.default_rng(1)).astype(np.float32)
    ours = _elementwise(FUNCTIONS[name])(x).astype(np.float64)
    ref = reference(x.astype(np.float64))
    if name.startswith("log"):  # absolute near log = 0
        err = np.abs(ours - ref) / np.maximum(np.abs(ref), 1.0)
    else:
        err = np.abs(ours - ref) / np.abs(ref)
    assert err.max() < max_ulp * ULP, name


def test_sin_and_cos_of_two_pi_u():
    u = np.r_[np.linspace(0, 1, 100_001), np.random.default_rng(2).random(100_000)].astype(np.float32)
    for name, ref in (("sin", np.sin), ("cos", np.cos)):
        ours = _elementwise(FUNCTIONS[name])(u).astype(np.float64)
        assert np.abs(ours - ref(2 * np.pi * u.astype(np.float64))).max() < 3e-7


def _row(rng, center=0.3):
    e1, e2 = lensing.phi_q_to_e1e2(rng.uniform(0, np.pi), rng.uniform(0.5, 0.95))
    return dict(amp=rng.uniform(1, 50), R_sersic=rng.uniform(0.2, 1.5), n_sersic=rng.uniform(1, 5), e1=float(e1),
                e2=float(e2), center_x=rng.uniform(-center, center), center_y=rng.uniform(-center, center))


def _coeffs(rows):
    keys = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
    c = lensing.sersic_coefficients(*(np.array([r[k] for r in rows]) for k in keys))
    return np.stack(c, axis=-1).astype(np.float32)


def test_render_light_matches_the_numpy_reference_profiles():
    rng = np.random.default_rng(7)
    n, scale, n_img = 61, 0.2, 6
    x, y = pixel_grid(n, scale)
    xg, yg = np.ascontiguousarray(x[0]), np.ascontiguousarray(y[:, 0])
    unl = [[_row(rng), _row(rng)] for _ in range(n_img)]
    unl[1][1]["amp"] = 0.0  # an absent component
    src = [[_row(rng, 1.0), _row(rng, 1.0)] for _ in range(n_img)]  # source + one clump
    lens = [dict(theta_E=rng.uniform(1, 2.5), e1=rng.uniform(-0.2, 0.2), e2=rng.uniform(-0.2, 0.2),
                 center_x=rng.uniform(-0.1, 0.1), center_y=rng.uniform(-0.1, 0.1)) for _ in range(n_img)]
    shear = rng.uniform(-0.05, 0.05, (n_img, 2)).astype(np.float32)
    subhalo = np.zeros((n_img, 2, 3), dtype=np.float32)
    subhalo[:, 0] = np.c_[rng.uniform(0.02, 0.1, n_img), rng.uniform(-2, 2, (n_img, 2))]
    extra = (0.05 * rng.standard_normal((1, 2, n, n))).astype(np.float32)
    extra_index = np.array([-1, 0, -1, -1, -1, -1])
    sie = np.stack(lensing.sie_coefficients(*(np.array([r[k] for r in lens])
                                               for k in ("theta_E", "e1", "e2", "center_x", "center_y"))), axis=-1)
    out = np.empty((n_img, n, n), dtype=np.float32)
    unlensed = np.stack([_coeffs(r) for r in unl])
    lensed = np.stack([_coeffs(r) for r in src])
    kernels.render_light(out, xg, yg, unlensed, sie.astype(np.float32), shear, subhalo, lensed, extra, extra_index,
                         scale, 1, 0, 0)
    X, Y = x.astype(np.float64), y.astype(np.float64)
    for i in range(n_img):
        ref = sum(lensing.sersic(X, Y, **r) for r in unl[i])
        ax, ay = lensing.sie_deflection(X, Y, **lens[i])
        sx, sy = lensing.shear_deflection(X, Y, *shear[i].astype(float))
        hx, hy = lensing.sis_deflection(X, Y, *subhalo[i, 0].astype(float))
        ax, ay = ax + sx + hx, ay + sy + hy
        if extra_index[i] >= 0:
            ax, ay = ax + extra[0, 0], ay + extra[0, 1]
        ref = ref + sum(lensing.sersic(X - ax, Y - ay, **r) for r in src[i])
        np.testing.assert_allclose(out[i], ref, rtol=0, atol=2e-5 * ref.max(), err_msg=f"image {i}")


def test_render_light_supersampling_averages_sub_pixels():
    rng = np.random.default_rng(3)
    n, scale, factor, radius = 31, 0.2, 6, 2
    x, y = pixel_grid(n, scale)
    xg, yg = np.ascontiguousarray(x[0]), np.ascontiguousarray(y[:, 0])
    row = _row(rng, 0.05)
    row["R_sersic"], row["n_sersic"] = 0.3, 4.0
    out = np.empty((1, n, n), dtype=np.float32)
    empty = np.zeros((1, 0, 9), dtype=np.float32)
    kernels.render_light(out, xg, yg, _coeffs([row])[None], np.zeros((1, 12), np.float32), np.zeros((1, 2), np.float32),
                         np.zeros((1, 0, 3), np.float32), empty, np.zeros((0, 2, n, n), np.float32),
                         np.array([-1]), scale, factor, radius, 0)
    sub = ((np.arange(factor) + 0.5) / factor - 0.5) * scale
    c = (n - 1) // 2 + int(np.rint(row["center_x"] / scale))
    r = (n - 1) // 2 + int(np.rint(row["center_y"] / scale))
    for iy in range(r - radius, r + radius + 1):
        for ix in (c - radius, c, c + radius):
            fine = lensing.sersic(x[iy, ix] + sub[None, :], y[iy, ix] + sub[:, None], **row).mean()
            assert out[0, iy, ix] == pytest.approx(fine, rel=1e-5)
    far = lensing.sersic(x[:1, :1].astype(float), y[:1, :1].astype(float), **row)[0, 0]
    assert out[0, 0, 0] == pytest.approx(far, rel=1e-5)  # outside the patch: pixel centre


def _exact_pixels(row, x, y, scale, ic, jc, core=1, factor=40):
    """Pixel averages of a Sersic: scipy's dblquad on the (2 core + 1)^2 pixels around ``(ic, jc)``, split at
    the centre so that the cusp lies on a corner, and ``factor``^2 sub-pixels elsewhere (smooth there)."""
    from scipy import integrate

    sub = ((np.arange(factor) + 0.5) / factor - 0.5) * scale
    exact = lensing.sersic(x[:, :, None, None] + sub[None, None, None, :], y[:, :, None, None] + sub[:, None],
                           **row).mean(axis=(2, 3))
    cx, cy = row["center_x"], row["center_y"]
    assert row["e1"] == row["e2"] == 0.0  # the scalar profile below is circular
    bn, r_floor = float(lensing.sersic_b_n(row["n_sersic"])), lensing.SERSIC_SMOOTHING_ARCSEC

    def f(yy, xx):
        r = max(math.hypot(xx - cx, yy - cy), r_floor)
        return row["amp"] * math.exp(-bn * ((r / row["R_sersic"]) ** (1.0 / row["n_sersic"]) - 1.0))

    for i in range(ic - core, ic + core + 1):
        for j in range(jc - core, jc + core + 1):
            xs = [x[i, j] - scale / 2, x[i, j] + scale / 2]
            ys = [y[i, j] - scale / 2, y[i, j] + scale / 2]
            xs = xs[:1] + [cx] * bool(xs[0] < cx < xs[1]) + xs[1:]
            ys = ys[:1] + [cy] * bool(ys[0] < cy < ys[1]) + ys[1:]
            exact[i, j] = sum(integrate.dblquad(f, a, b, c, d, epsabs=0, epsrel=1e-6)[0]
                              for a, b in zip(xs[:-1], xs[1:]) for c, d in zip(ys[:-1], ys[1:])) / scale ** 2
    return exact


@pytest.mark.parametrize("n_sersic", [4.0, 6.0])
def test_nested_refinement_integrates_a_compact_cusp_wherever_its_centre_falls(n_sersic):
    """A compact Sersic (R_e half a pixel): its 8 x 8 sub-pixel flux depends on how close the centre lies
    to a sub-pixel's centre (0.0016" here: +27 % for n = 4); three nested levels give the exact pixel
    integrals' flux within 2.5 % for every centre, and the central pixel within 5 %. A centre on a pixel
    centre (where he2020 and li2020 put their lens galaxies) lies on the corner of four sub-pixels: each
    is refined (refining one left the central pixel 6.5 % low for n = 6)."""
    n, scale, factor, radius = 41, 0.2, 8, 2
    x, y = pixel_grid(n, scale)
    x, y = x.astype(float), y.astype(float)
    xg, yg = np.ascontiguousarray(x[0], dtype=np.float32), np.ascontiguousarray(y[:, 0], dtype=np.float32)
    for cx, cy, off_without in ((0.037, -0.061, 0.1), (0.011, 0.093, 0.0), (0.0, 0.0, None), (0.2, -0.4, None)):
        if off_without is not None and n_sersic != 4.0:
            continue
        row = dict(amp=1.0, R_sersic=0.1, n_sersic=n_sersic, e1=0.0, e2=0.0, center_x=cx, center_y=cy)
        ic, jc = (n - 1) // 2 + int(np.rint(cy / scale)), (n - 1) // 2 + int(np.rint(cx / scale))
        exact = _exact_pixels(row, x, y, scale, ic, jc)
        images = {}
        for levels in (0, 3):
            out = np.empty((1, n, n), dtype=np.float32)
            kernels.render_light(out, xg, yg, _coeffs([row])[None], np.zeros((1, 12), np.float32),
                                 np.zeros((1, 2), np.float32), np.zeros((1, 0, 3), np.float32),
                                 np.zeros((1, 0, 9), np.float32), np.zeros((0, 2, n, n), np.float32), np.array([-1]),
                                 scale, factor, radius, levels)
            images[levels] = out[0].astype(float)
        refined = images[3].sum() / exact.sum() - 1
        assert abs(refined) < 0.025, (cx, cy, refined)
        assert images[3][ic, jc] == pytest.approx(exact[ic, jc], rel=0.05)
        if off_without is not None:
            assert images[0].sum() / exact.sum() - 1 > off_without  # the uniform grid alone: too much, by luck
        outside = np.ones((n, n), dtype=bool)
        outside[ic, jc] = False
        np.testing.assert_array_equal(images[3][outside], images[0][outside])  # only the centre's pixel changes


def test_noise_is_standard_normal_and_depends_on_the_seed_alone():
    z = kernels.standard_normals(12345, 200_001).astype(np.float64)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01
    other = kernels.standard_normals(12346, 200_001).astype(np.float64)
    assert abs(np.corrcoef(z, other)[0, 1]) < 0.01


def test_add_noise_variance_follows_sky_and_poisson_terms():
    n_img, size = 4, 101
    images = np.zeros((n_img, size, size), dtype=np.float32)
    images[2:] = 400.0
    sky = np.array([1.0, 3.0, 1.0, 1.0])
    gain = np.array([np.inf, np.inf, 4.0, np.inf])
    seeds = np.array([1, 2, 3, 4], dtype=np.uint64)
    noisy = np.array([True, True, True, False])
    add_noise(images, sky, gain, seeds, noisy)
    assert images[0].std() == pytest.approx(1.0, rel=0.03)
    assert images[1].std() == pytest.approx(3.0, rel=0.03)
    assert images[2].std() == pytest.approx(np.sqrt(1 + 400 / 4), rel=0.03)
    assert images[2].mean() == pytest.approx(400, abs=0.5)
    assert np.all(images[3] == 400.0)  # noiseless row untouched
    again = np.zeros((1, size, size), dtype=np.float32)
    add_noise(again, 1.0, np.inf, np.array([1], dtype=np.uint64))
    np.testing.assert_array_equal(again[0], images[0])  # same seed, same noise, in any batch
    with pytest.raises(TypeError, match="float32"):
        add_noise(np.zeros((1, 5, 5)), 1.0, np.inf, np.array([1], dtype=np.uint64))


@early_test(15)
def test_images_are_the_same_bits_at_every_vector_width(tmp_path):
    """No fastmath and explicit FMAs: 256-bit and 512-bit vector code (and
    the scalar loop remainders) give the same images, so a row re-renders
    identically on any x86-64 machine with FMA."""
    import os
    import subprocess
    import sys

    script = (
        "import sys, numpy as np\n"
        "from lensfinder import simulation as sim\n"
        "a, _ = sim.simulate_shard('he2020', 12, 3, 0, progress=False)\n"
        "b, _ = sim.simulate_shard('skeleton', 12, 3, 0, params={'light_supersampling': 4}, progress=False)\n"
        "np.save(sys.argv[1], np.concatenate([a.reshape(12, -1), b.reshape(12, -1)], axis=1))\n"
    )
    # the two widths compile side by side (each process compiles its own kernels, ~20 s)
    runs = []
    for name, extra in (("default", {}), ("avx2-width", {"LENSFINDER_PREFER_256_BIT": "1"})):
        env = {k: v for k, v in os.environ.items() if k != "LENSFINDER_PREFER_256_BIT"}
        env.update(extra)
        path = tmp_path / f"{name}.npy"
        runs.append((subprocess.Popen([sys.executable, "-c", script, str(path)], env=env), path))
    outputs = []
    for process, path in runs:
        assert process.wait(timeout=300) == 0, f"{path.stem}: exit status {process.returncode}"
        outputs.append(np.load(path))
    assert np.isfinite(outputs[0]).all() and outputs[0].std() > 0
    np.testing.assert_array_equal(outputs[0], outputs[1])


KERNEL_MODULES = ("compiled", "compiled_optics", "compiled_sersic", "fastmath")
CACHING_MODULES = ("compiled", "compiled_optics", "compiled_sersic")


def _kernel_sources_sha256(directory) -> str:
    """sha256 of the kernel modules' sources without their ``KERNEL_SOURCES_SHA256`` lines."""
    import hashlib

    digest = hashlib.sha256()
    for name in KERNEL_MODULES:
        lines = (directory / f"{name}.py").read_bytes().splitlines(keepends=True)
        digest.update(name.encode() + b"\0")
        digest.update(b"".join(line for line in lines if not line.startswith(b"KERNEL_SOURCES_SHA256 = ")))
    return digest.hexdigest()


def test_each_caching_kernel_module_carries_the_hash_of_every_kernel_source(tmp_path):
    """numba 0.68 keys a cached kernel on its own file's contents alone: a kernel of compiled.py that calls a
    changed function of compiled_sersic.py would load stale from the cache. Each caching module holds the
    sha256 of all the kernel modules' sources, so that any change changes every caching module's file."""
    import importlib
    import shutil
    from pathlib import Path

    directory = Path(kernels.__file__).parent
    expected = _kernel_sources_sha256(directory)
    for name in CACHING_MODULES:
        module = importlib.import_module(f"lensfinder.simulation.{name}")
        assert "cache=True" in (directory / f"{name}.py").read_text()
        assert module.KERNEL_SOURCES_SHA256 == expected, (
            f"a kernel module changed: set KERNEL_SOURCES_SHA256 = \"{expected}\" in "
            + ", ".join(f"src/lensfinder/simulation/{m}.py" for m in CACHING_MODULES))
    # any edit of any kernel module, one that numba's own stamp of another module would not see, changes it
    for name in KERNEL_MODULES:
        for other in KERNEL_MODULES:
            shutil.copy(directory / f"{other}.py", tmp_path / f"{other}.py")
        with open(tmp_path / f"{name}.py", "a") as f:
            f.write("\n")
        assert _kernel_sources_sha256(tmp_path) != expected
    for name in KERNEL_MODULES:  # only these modules import numba in the simulator (test_cli checks the rest)
        assert "import numba" in (directory / f"{name}.py").read_text() or \
            "from numba" in (directory / f"{name}.py").read_text()
