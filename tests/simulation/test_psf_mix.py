"""A mix of Gaussian and Moffat PSFs in one training set (recipe parameter psf_moffat_fraction)."""

from __future__ import annotations

import numpy as np
import pytest

from lensfinder import simulation as sim
from lensfinder.io import InputError


def test_a_fraction_of_the_images_get_moffat_psfs_and_each_recreates():
    images, df = sim.simulate_shard("skeleton", 120, 4, 0, params={"psf_moffat_fraction": 0.5}, progress=False)
    moffat = (df["psf_model"] == "moffat").to_numpy()
    assert 0.3 < moffat.mean() < 0.7 and set(df["psf_model"]) == {"gaussian", "moffat"}
    assert df.loc[moffat, "psf_beta"].between(2.8, 4.8).all() and df.loc[~moffat, "psf_beta"].isna().all()
    assert (df.loc[moffat, "psf_radius_arcsec"] == 5.0).all() and df.loc[~moffat, "psf_radius_arcsec"].isna().all()
    for i in (int(np.flatnonzero(moffat)[0]), int(np.flatnonzero(~moffat)[0])):
        np.testing.assert_array_equal(sim.render_from_metadata(df.iloc[i]), images[i])
    # the Moffat wings hold light far from the centre that a Gaussian of the same FWHM does not
    lone = df["kind"].to_numpy() == "elliptical"
    noiseless, _ = sim.simulate_shard("skeleton", 120, 4, 0, noiseless=True,
                                      params={"psf_moffat_fraction": 0.5}, progress=False)
    ring = np.hypot(*np.mgrid[-50:51, -50:51]) > 25
    outer = noiseless[:, ring].sum(axis=1) / noiseless.reshape(len(noiseless), -1).sum(axis=1)
    assert np.median(outer[lone & moffat]) > np.median(outer[lone & ~moffat])


def test_no_fraction_draws_nothing_and_papers_refuse_it():
    plain, df = sim.simulate_shard("skeleton", 40, 4, 0, progress=False)
    zero, df0 = sim.simulate_shard("skeleton", 40, 4, 0, params={"psf_moffat_fraction": 0.0}, progress=False)
    np.testing.assert_array_equal(plain, zero)
    assert (df0["psf_model"] == "gaussian").all()
    with pytest.raises(InputError, match="psf_moffat_fraction"):
        sim.recipe_params("he2020", {"psf_moffat_fraction": 0.5})
    with pytest.raises(InputError, match="psf_moffat_fraction"):
        sim.recipe_params("skeleton", {"psf_moffat_fraction": 1.5})


@pytest.mark.parametrize("psf_model", ["gaussian", "moffat"])
def test_noise_has_the_stated_variance_whatever_the_psf(psf_model):
    """Each pixel's noise has variance sky_sigma^2 + image / gain (docs/simulation.md, Observing) for either
    PSF family. The Moffat and tile-ePSF images (one code path: FFT convolution, then the noise kernel) were
    given image * gain: about 30 times the Poisson sigma, a PSF-family signature in `broad` and `sky`."""
    _, df = sim.simulate_shard("skeleton", 12, seed=1, shard=0, params={"psf_model": psf_model}, progress=False)
    noiseless = sim.render_images(df, noiseless=True)
    noisy = sim.render_images(df, noiseless=False)
    sky, gain = (df[c].to_numpy()[:, None, None] for c in ("sky_sigma", "gain"))
    z = (noisy - noiseless) / np.sqrt(sky**2 + np.maximum(noiseless, 0) / gain)
    bright = noiseless > 20 * sky
    assert bright.sum() > 200
    assert 0.95 < z.std() < 1.05 and 0.9 < z[bright].std() < 1.1
