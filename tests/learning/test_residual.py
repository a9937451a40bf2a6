"""The colour residual's PSF match: g and r seen through different PSFs (lensfinder.learning.residual)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from lensfinder.io import InputError
from lensfinder.learning import residual as res
from lensfinder.learning.sidecar import check_settings, settings_mismatch

BANDS = ("g", "r", "i")
SIZE = 101
YY, XX = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
RADIUS = np.hypot(XX, YY)


def _galaxy(r_e: float = 2.0):
    """A compact de Vaucouleurs-like galaxy (an exponential in r^(1/2), sharper than a Gaussian), unit peak."""
    return np.exp(-3.0 * np.sqrt(np.hypot(XX, YY) / r_e))


def _observed(g_psf: float, r_psf: float, n: int = 4, noise: float = 0.5, seed: int = 1, arc=None):
    """``n`` stamps of one red galaxy (g/r flux 0.3) through Gaussian PSFs of these sigmas (pixels), with
    white noise; ``arc``, a blue (g/r 4) image added before the PSF."""
    rng = np.random.default_rng(seed)
    galaxy = 3000.0 * _galaxy()
    cube = np.empty((n, 3, SIZE, SIZE), np.float32)
    g_light, r_light = 0.3 * galaxy, galaxy.copy()
    if arc is not None:
        g_light, r_light = g_light + arc, r_light + arc / 4
    for band, light, sigma in ((0, g_light, g_psf), (1, r_light, r_psf), (2, 1.5 * galaxy, r_psf)):
        cube[:, band] = ndimage.gaussian_filter(light, sigma) + rng.normal(0, noise, (n, SIZE, SIZE))
    return cube


def _ring_snr(residual, noise: float):
    """The residual's summed light 0.6-1.6" (3-8 px) from the centre, in units of its noise."""
    annulus = (RADIUS > 3) & (RADIUS <= 8)
    return residual[:, annulus].sum(axis=1) / (noise * np.sqrt(annulus.sum()))


def test_a_psf_mismatch_leaves_a_ring_that_the_match_removes():
    """KiDS' g band is seen in worse seeing than r (0.9" against 0.7"): scaled alone, r leaves g's wider
    wings round the galaxy, a ring of high S/N; matched, r is blurred by about the Gaussian that makes up
    the difference and nothing is left."""
    g_sigma, r_sigma = 1.9, 1.5  # pixels: 0.9" and 0.7" FWHM on 0.2"/px
    cube = _observed(g_sigma, r_sigma)
    scaled = res.colour_residual_band(cube, BANDS, ("g", "r"), "scale")
    matched = res.colour_residual_band(cube, BANDS, ("g", "r"))
    assert (_ring_snr(scaled, 0.5) > 50).all()
    assert (np.abs(_ring_snr(matched, 0.5)) < 3).all()
    sigma = res.match_sigmas(cube[:, 0], cube[:, 1])
    assert np.all(np.abs(sigma - np.sqrt(g_sigma**2 - r_sigma**2)) <= 0.05)
    # the other way round (a night when g was sharper): g is blurred instead, its sigma negative
    swapped = _observed(r_sigma, g_sigma, seed=2)
    assert np.all(np.abs(res.match_sigmas(swapped[:, 0], swapped[:, 1]) + np.sqrt(g_sigma**2 - r_sigma**2)) <= 0.05)
    ring_scaled = _ring_snr(res.colour_residual_band(swapped, BANDS, ("g", "r"), "scale"), 0.5)
    ring_matched = _ring_snr(res.colour_residual_band(swapped, BANDS, ("g", "r")), 0.5)
    assert (ring_scaled < -50).all() and (np.abs(ring_matched) < 0.1 * np.abs(ring_scaled)).all()


def test_the_same_psf_is_left_alone_and_noise_does_not_choose_a_blur():
    """With one PSF in both bands no blur is needed; the match subtracts what each blur takes of the noise,
    so a blur that only smooths noise is not chosen."""
    cube = _observed(1.5, 1.5, n=12, noise=3.0, seed=3)
    sigma = res.match_sigmas(cube[:, 0], cube[:, 1])
    assert np.abs(sigma).max() <= 0.3
    sky = np.random.default_rng(4).normal(0, 3.0, (12, 2, SIZE, SIZE)).astype(np.float32)  # no galaxy at all
    assert (res.match_sigmas(sky[:, 0], sky[:, 1]) == 0).mean() >= 0.9


def test_a_companion_beside_the_galaxy_does_not_choose_the_blur():
    """The blur is chosen on the residual's radial profile, each ring's median: a compact blue companion 1.1"
    from the centre, on one side, leaves the choice to the galaxy's own light, PSFs alike or not."""
    companion = 800.0 * np.exp(-((XX - 5.5) ** 2 + YY**2) / (2 * 0.8**2))
    for g_sigma, r_sigma, want in ((1.5, 1.5, 0.0), (1.9, 1.5, np.sqrt(1.9**2 - 1.5**2))):
        rng = np.random.default_rng(12)
        galaxy = 3000.0 * _galaxy()
        cube = np.empty((3, 3, SIZE, SIZE), np.float32)
        for band, light, sigma in ((0, 0.3 * galaxy + companion, g_sigma), (1, galaxy + companion / 4, r_sigma),
                                   (2, 1.5 * galaxy, r_sigma)):
            cube[:, band] = ndimage.gaussian_filter(light, sigma) + rng.normal(0, 0.5, (3, SIZE, SIZE))
        assert np.all(np.abs(res.match_sigmas(cube[:, 0], cube[:, 1]) - want) <= 0.15), (g_sigma, r_sigma)


def test_a_blue_arc_stays_after_the_match():
    """The match is measured on the galaxy's core; a blue arc 2.4" out is kept at its g light less k times
    its (blurred) r light, as with the scale alone."""
    ring = 60.0 * np.exp(-((RADIUS - 12.0) ** 2) / 2.0) * (XX > 0)  # half a ring: an arc
    with_arc = _observed(1.9, 1.5, arc=ring, noise=0.5, seed=5)
    without = _observed(1.9, 1.5, noise=0.5, seed=5)
    on_arc = (np.abs(RADIUS - 12.0) < 2) & (XX > 2)
    kept = (res.colour_residual_band(with_arc, BANDS, ("g", "r")) - res.colour_residual_band(without, BANDS, ("g", "r")))
    expected = ndimage.gaussian_filter(ring - 0.3 * ring / 4, 1.9)[on_arc].sum()
    np.testing.assert_allclose(kept[:, on_arc].sum(axis=1), expected, rtol=0.05)


def test_the_match_is_scipys_gaussian_and_each_image_its_own():
    """The blurs compared on the core are scipy's Gaussian filter; the blur applied to the whole stamp is
    scipy's (edges extended); an image's residual does not depend on the others in its batch."""
    rng = np.random.default_rng(6)
    half = 16
    crops = rng.normal(0, 1, (3, 2 * half + 1, 2 * half + 1)).astype(np.float32)
    mats, power = res._blur_matrices(half, res.MATCH_SIGMAS_PIX, res.MATCH_FIT_PIX)
    blurred = mats @ crops[:, None] @ mats.transpose(0, 2, 1)
    reach = int(res.MATCH_FIT_PIX)
    for j, sigma in enumerate(res.MATCH_SIGMAS_PIX):
        ref = np.stack([ndimage.gaussian_filter(c.astype(np.float64), sigma, mode="constant") for c in crops])
        window = slice(half - reach, half + reach + 1)
        np.testing.assert_allclose(blurred[:, j], ref[:, window, window], atol=1e-5)
        kernel = ndimage.gaussian_filter(np.pad([[1.0]], 12), sigma) if sigma else np.ones(1)
        assert power[j] == pytest.approx((kernel**2).sum(), rel=1e-6)
    images = rng.normal(0, 1, (4, SIZE, SIZE)).astype(np.float32)
    sigmas = np.array([0.0, 0.75, 2.5, 0.75])
    out = res._blur(images, sigmas)
    for image, sigma, got in zip(images, sigmas, out):
        want = ndimage.gaussian_filter(image, sigma, mode="nearest") if sigma else image
        np.testing.assert_allclose(got, want, atol=1e-5)
    cube = np.concatenate([_observed(1.9, 1.5, n=2, seed=7), _observed(1.5, 1.9, n=2, seed=8)])
    together = res.colour_residual_band(cube, BANDS, ("g", "r"))
    alone = np.concatenate([res.colour_residual_band(cube[i:i + 1], BANDS, ("g", "r")) for i in range(4)])
    np.testing.assert_array_equal(together, alone)
    with pytest.raises(ValueError, match="colour_residual_match 'fit': expected one of psf, scale"):
        res.colour_residual_band(cube, BANDS, ("g", "r"), "fit")


def _moffat_observed(g_psf, r_psf, n=4, noise=0.5, seed=5):
    """The red galaxy of :func:`_observed` through Moffat PSFs ``(FWHM arcsec, beta)`` on 0.2"/px."""
    from scipy.signal import fftconvolve

    from lensfinder.simulation.optics import moffat_psf_kernel

    rng = np.random.default_rng(seed)
    galaxy = 3000.0 * _galaxy()
    cube = np.empty((n, 3, SIZE, SIZE), np.float32)
    for band, light, (fwhm, beta) in ((0, 0.3 * galaxy, g_psf), (1, galaxy, r_psf), (2, 1.5 * galaxy, r_psf)):
        kernel = moffat_psf_kernel(fwhm, 0.2, beta=beta, size_pix=61)
        cube[:, band] = fftconvolve(light, kernel, mode="same") + rng.normal(0, noise, (n, SIZE, SIZE))
    return cube


def test_stamps_with_their_tiles_moffat_fits_are_matched_by_the_moffat_kernel():
    """g's Moffat PSF broader and of wider wings than r's (0.9" beta 2.5 against 0.7" beta 4.5): the Gaussian
    measured on the stamp matches the cores and leaves g's wings, a halo; the tile's Moffat fits, given per
    stamp, blur r by the Moffat-to-Moffat kernel and leave none. Stamps without fits (NaN) keep the Gaussian,
    bit for bit; either band is blurred, whichever is the sharper; fits need the pixel scale."""
    g_psf, r_psf = (0.9, 2.5), (0.7, 4.5)
    cube = _moffat_observed(g_psf, r_psf)
    gaussian = res.colour_residual_band(cube, BANDS, ("g", "r"))
    fits = np.tile([*g_psf, *r_psf], (len(cube), 1))
    moffat = res.colour_residual_band(cube, BANDS, ("g", "r"), psf=fits, pixel_scale_arcsec=0.2)
    halo_gaussian, halo_moffat = _ring_snr(gaussian, 0.5), _ring_snr(moffat, 0.5)
    assert (np.abs(halo_gaussian) > 10).all()
    assert (np.abs(halo_moffat) < 0.25 * np.abs(halo_gaussian)).all() and (np.abs(halo_moffat) < 5).all()
    fits[::2] = np.nan  # stamps whose tile has no fits
    mixed = res.colour_residual_band(cube, BANDS, ("g", "r"), psf=fits, pixel_scale_arcsec=0.2)
    np.testing.assert_array_equal(mixed[::2], gaussian[::2])
    np.testing.assert_array_equal(mixed[1::2], moffat[1::2])
    swapped = _moffat_observed(r_psf, g_psf, seed=6)  # g the sharper: g is blurred
    flipped = res.colour_residual_band(swapped, BANDS, ("g", "r"), psf=np.tile([*r_psf, *g_psf], (len(cube), 1)),
                                       pixel_scale_arcsec=0.2)
    assert (np.abs(_ring_snr(flipped, 0.5)) < 0.25 * np.abs(_ring_snr(res.colour_residual_band(
        swapped, BANDS, ("g", "r")), 0.5))).all()
    with pytest.raises(ValueError, match="pixel_scale_arcsec"):
        res.colour_residual_band(cube, BANDS, ("g", "r"), psf=fits)


@pytest.mark.parametrize("fits", [(0.8, 3.0, 0.8, 3.0), (0.8, 4.5, 0.801, 2.5), (0.7, 4.5, 0.707, 3.0)])
def test_nearly_equal_fits_are_matched_by_a_windowed_kernel_that_does_not_ring(fits):
    """Two nearly equal Moffat fits (a tile whose g and r seeing agree): photutils' exact kernel is the ratio of
    two transforms that are both near zero at high frequencies, and rings (its absolute values sum to 5-15, and
    it can raise white noise); the guard takes the kernel under a Tukey window, which blurs the sharper PSF
    into the broader one to 2 % of its flux, rings little and does not raise the noise. Well separated fits
    (the mock tiles' and the test above's) keep the exact kernel, bit for bit."""
    from scipy.signal import fftconvolve

    from lensfinder.simulation.optics import moffat_matching_kernel, moffat_psf_kernel

    exact = moffat_matching_kernel(*fits, 0.2, res.MOFFAT_MATCH_RADIUS_ARCSEC)
    assert np.abs(exact).sum() > res.MOFFAT_MATCH_MAX_ABS_SUM  # what the guard is for
    kernel = res._moffat_kernel(*fits, 0.2)
    assert np.abs(kernel).sum() < 2.5 and kernel.sum() == pytest.approx(1.0, abs=1e-3)
    noise = np.random.default_rng(4).standard_normal((121, 121))
    assert fftconvolve(noise, kernel, mode="same")[20:-20, 20:-20].std() < 0.75
    size = exact.shape[0]
    src, dst = (moffat_psf_kernel(f, 0.2, beta=b, size_pix=size, supersample=1) for f, b in (fits[:2], fits[2:]))
    blurred = fftconvolve(src / src.sum(), kernel, mode="same")
    assert np.abs(blurred - dst / dst.sum()).sum() < 0.02
    for separated in ((0.68, 4.6, 0.87, 4.65), (0.87, 4.65, 1.07, 4.28), (0.7, 4.5, 0.9, 2.5)):
        np.testing.assert_array_equal(res._moffat_kernel(*separated, 0.2), moffat_matching_kernel(
            *separated, 0.2, res.MOFFAT_MATCH_RADIUS_ARCSEC).astype(np.float32))


def test_the_sidecar_records_the_match_and_older_networks_read_the_scale():
    settings = {"model": "he2020", "input_shape": [49, 49, 8], "stamp_size": 101, "preprocess": "bin2_crop",
                "normalization": "sky", "bands": ["g", "r", "i"], "colour_residual": ["g", "r"]}
    assert res.settings_residual_match(settings) == "scale"  # written before the match: scale
    assert res.settings_residual_match({**settings, "colour_residual_match": "psf"}) == "psf"
    assert res.settings_residual_match({**settings, "colour_residual": []}) is None  # no residual, no match
    assert settings_mismatch(settings, colour_residual_match="psf") == ("colour_residual_match", "scale", "psf")
    assert settings_mismatch({**settings, "colour_residual_match": "psf"}, colour_residual_match="psf") is None
    with pytest.raises(InputError, match=r"m.json: colour_residual_match: 'blur', expected one of \('psf', 'scale'\)"):
        check_settings({**settings, "colour_residual_match": "blur"}, "m.json")


def test_an_even_stamp_is_refused_by_the_psf_match():
    """The match is measured on a square around the centre pixel, which an even stamp lacks: the blur chosen
    changed with the stamp's orientation (0.14 pixel), and the residual with it."""
    cube = np.zeros((2, 2, 100, 100), dtype=np.float32)
    with pytest.raises(InputError, match="stamps of 100x100 pixels; expected an odd size"):
        res.colour_residual_band(cube, ["g", "r"], ("g", "r"), match="psf")
    assert res.colour_residual_band(cube, ["g", "r"], ("g", "r"), match="scale").shape == (2, 100, 100)
