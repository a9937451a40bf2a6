"""Lens and light profiles against lenstronomy (a test-only dependency)."""

from __future__ import annotations

import numpy as np
import pytest

from lensfinder.simulation import lensing
from lensfinder.simulation.optics import gaussian_kernel_1d, gaussian_psf_kernel, moffat_psf_kernel, convolve_gaussian, gaussian_taps

lenstronomy = pytest.importorskip("lenstronomy")
from lenstronomy.LensModel.lens_model import LensModel  # noqa: E402
from lenstronomy.LightModel.light_model import LightModel  # noqa: E402
from lenstronomy.Util import param_util  # noqa: E402


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(3)
    x = rng.uniform(-10, 10, 4000)
    y = rng.uniform(-10, 10, 4000)
    # include the centre region densely
    return np.r_[x, rng.normal(0, 0.05, 200)], np.r_[y, rng.normal(0, 0.05, 200)]


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("q", [0.3, 0.7, 0.95, 0.9999999, 1.0])
@pytest.mark.parametrize("phi", [0.0, 0.6, 2.0])
def test_sie_matches_lenstronomy(points, q, phi):
    x, y = points
    e1, e2 = lensing.phi_q_to_e1e2(phi, q)
    kw = dict(theta_E=1.7, e1=float(e1), e2=float(e2), center_x=0.13, center_y=-0.21)
    ref = LensModel(["SIE"]).alpha(x, y, [kw])
    ours = lensing.sie_deflection(x, y, **kw)
    assert _rel(ours[0], ref[0]) < 1e-5 and _rel(ours[1], ref[1]) < 1e-5


def test_sie_float32_grid_close_to_float64(points):
    x, y = points
    e1, e2 = lensing.phi_q_to_e1e2(0.4, 0.6)
    a64 = lensing.sie_deflection(x, y, 2.0, e1, e2)
    a32 = lensing.sie_deflection(x.astype(np.float32), y.astype(np.float32), 2.0, e1, e2)
    assert a32[0].dtype == np.float32
    assert _rel(a32[0], a64[0]) < 1e-5 and _rel(a32[1], a64[1]) < 1e-5


def test_sis_and_shear_match_lenstronomy(points):
    x, y = points
    ref = LensModel(["SIS"]).alpha(x, y, [dict(theta_E=0.8, center_x=1.0, center_y=-2.0)])
    ours = lensing.sis_deflection(x, y, 0.8, 1.0, -2.0)
    assert _rel(ours[0], ref[0]) < 1e-5 and _rel(ours[1], ref[1]) < 1e-5
    ref = LensModel(["SHEAR"]).alpha(x, y, [dict(gamma1=0.05, gamma2=-0.03)])
    ours = lensing.shear_deflection(x, y, 0.05, -0.03)
    assert _rel(ours[0], ref[0]) < 1e-5 and _rel(ours[1], ref[1]) < 1e-5
    assert lensing.sis_deflection(np.zeros(1), np.zeros(1), 1.0)[0][0] == 0.0


def test_broadcasting_over_a_batch():
    x, y = np.meshgrid(np.linspace(-3, 3, 7), np.linspace(-3, 3, 7))
    theta = np.array([1.0, 2.0]).reshape(-1, 1, 1)
    ax, ay = lensing.sie_deflection(x, y, theta, 0.1, 0.05)
    assert ax.shape == (2, 7, 7)
    np.testing.assert_allclose(ax[1], lensing.sie_deflection(x, y, 2.0, 0.1, 0.05)[0])


@pytest.mark.parametrize("n", [0.8, 1.0, 2.5, 4.0, 6.0])
def test_sersic_matches_lenstronomy(points, n):
    x, y = points
    e1, e2 = lensing.phi_q_to_e1e2(0.3, 0.55)
    kw = dict(amp=3.0, R_sersic=0.7, n_sersic=n, e1=float(e1), e2=float(e2), center_x=0.2, center_y=0.0)
    xs, ys = np.r_[x, 0.2], np.r_[y, 0.0]  # exact centre: smoothing floor
    ref = LightModel(["SERSIC_ELLIPSE"]).surface_brightness(xs, ys, [kw])
    ours = lensing.sersic(xs, ys, **kw)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)
    ref_flux = LightModel(["SERSIC_ELLIPSE"]).total_flux([kw])[0]
    assert lensing.sersic_total_flux(3.0, 0.7, n) == pytest.approx(ref_flux, rel=1e-10)


def test_b_n_is_he2020_eq14():
    assert lensing.sersic_b_n(4.0) == pytest.approx(1.9992 * 4 - 0.3271)


def test_ellipticity_round_trip_and_lenstronomy():
    phi = np.array([0.0, 0.5, 1.2, -0.7])
    q = np.array([1.0, 0.8, 0.5, 0.3])
    e1, e2 = lensing.phi_q_to_e1e2(phi, q)
    ref = param_util.phi_q2_ellipticity(phi, q)
    np.testing.assert_allclose(e1, ref[0]), np.testing.assert_allclose(e2, ref[1])
    phi2, q2 = lensing.e1e2_to_phi_q(e1, e2)
    np.testing.assert_allclose(q2, q, atol=1e-12)
    np.testing.assert_allclose(np.cos(2 * phi2[1:]), np.cos(2 * phi[1:]), atol=1e-12)


def test_sie_critical_curve_is_the_kappa_half_ellipse():
    q, phi, theta_E = 0.6, 0.4, 1.5
    e1, e2 = lensing.phi_q_to_e1e2(phi, q)

    def deflect(x, y):
        return lensing.sie_deflection(x, y, theta_E, e1, e2)

    cx, cy = lensing.tangential_critical_curve(deflect, theta_E, n_points=48)
    xp = np.cos(phi) * cx + np.sin(phi) * cy
    yp = -np.sin(phi) * cx + np.cos(phi) * cy
    # kappa = 1/2 on sqrt(q^2 x'^2 + y'^2) = theta_E sqrt(q) (lenstronomy's SIE)
    np.testing.assert_allclose(np.hypot(q * xp, yp), theta_E * np.sqrt(q), rtol=1e-4)
    sx, sy = lensing.tangential_caustic(deflect, theta_E, n_points=48)
    assert np.all(np.isfinite(sx)) and np.max(np.hypot(sx, sy)) < theta_E


def test_sis_caustic_is_a_point():
    def deflect(x, y):
        return lensing.sis_deflection(x, y, 2.0)

    cx, cy = lensing.tangential_critical_curve(deflect, 2.0, n_points=16)
    np.testing.assert_allclose(np.hypot(cx, cy), 2.0, rtol=1e-5)
    sx, sy = lensing.tangential_caustic(deflect, 2.0, n_points=16)
    assert np.max(np.hypot(sx, sy)) < 1e-4


def test_einstein_radius_eq10():
    # 4 pi (250 / c)^2 rad = 1.8025"
    assert lensing.sis_theta_E_arcsec(250.0, 1.0) == pytest.approx(1.80247, rel=1e-4)


def test_psf_kernels():
    k = gaussian_kernel_1d(0.7, 0.2)
    assert k.sum() == pytest.approx(1.0) and len(k) % 2 == 1
    sigma_pix = 0.7 / (2 * np.sqrt(2 * np.log(2))) / 0.2
    t = np.arange(len(k)) - len(k) // 2
    assert np.sqrt(np.sum(k * t**2)) == pytest.approx(sigma_pix, rel=1e-3)
    k2 = gaussian_psf_kernel(0.7, 0.2)
    assert k2.shape == (len(k), len(k)) and k2.sum() == pytest.approx(1.0)
    m = moffat_psf_kernel(0.7, 0.2)
    assert m.sum() == pytest.approx(1.0) and m[m.shape[0] // 2, m.shape[1] // 2] == m.max()


@pytest.mark.parametrize("fwhm, scale, beta, size, supersample", [(0.7, 0.2, 3.5, 41, 5), (1.1, 0.21, 2.8, 51, 5),
                                                                  (0.6, 0.168, 4.765, 8, 4), (0.9, 0.262, 3.0, 7, 1)])
def test_moffat_kernel_is_astropys_and_its_quadrant_gives_the_full_grid_bit_for_bit(fwhm, scale, beta, size,
                                                                                     supersample):
    """The kernel is evaluated on one quadrant of the supersampled grid and mirrored; the numbers are those of
    the whole grid, bit for bit (odd and even sizes), and astropy's Moffat2DKernel (oversampled) to 1e-14."""
    from astropy.convolution import Moffat2DKernel

    kernel = moffat_psf_kernel(fwhm, scale, beta=beta, size_pix=size, supersample=supersample)
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    n = size * supersample
    offsets = (np.arange(n) - (n - 1) / 2.0) * scale / supersample
    fine = (1.0 + (offsets[:, None] ** 2 + offsets[None, :] ** 2) / alpha**2) ** (-beta)
    whole = fine.reshape(size, supersample, size, supersample).sum(axis=(1, 3))
    np.testing.assert_array_equal(kernel, whole / whole.sum())
    reference = Moffat2DKernel(alpha / scale, beta, x_size=size, y_size=size, mode="oversample",
                               factor=supersample).array
    np.testing.assert_allclose(kernel, reference / reference.sum(), rtol=0, atol=1e-14 * kernel.max())


def test_separable_convolution_equals_2d_convolution():
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(0)
    img = rng.random((3, 31, 31))
    img[2] = 0.0
    img[2, 0, 30] = 1.0  # a corner point: zero padding beyond the stamp
    fwhms = [0.6, 0.9, 0.7]
    taps = gaussian_taps(np.array(fwhms), 0.2)
    np.testing.assert_array_equal(taps, taps[:, ::-1])  # the kernel reads half of each (symmetric) row
    out = convolve_gaussian(img, fwhms, 0.2)  # kernels of different widths in one batch
    assert out.dtype == np.float32
    for i, f in enumerate(fwhms):
        ref = fftconvolve(img[i], gaussian_psf_kernel(f, 0.2), mode="same")
        np.testing.assert_allclose(out[i], ref, atol=3e-7 * np.abs(ref).max())
