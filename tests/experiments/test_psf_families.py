"""The independent renderer's PSF families: the opt-in ``moffat`` and ``gaussian`` against their analytic profiles."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.modeling.functional_models import Moffat2D

from lensfinder.cli import main
from lensfinder.experiments.independent import draw_psf_bank, independent_spec
from lensfinder.experiments.independent_render import render_from_metadata
from lensfinder.experiments.morphologies import INDEPENDENT_PSF_FAMILIES, psf_fwhm_arcsec, psf_kernel
from lensfinder.io import InputError, read_cube, read_table

SCALE = 0.2  # arcsec per pixel
ROUND = {"psf_e1": 0.0, "psf_e2": 0.0, "psf_dilation": 1.0}


def _radial(kernel, radii):
    """The kernel's mean along the row and the column through its centre, at these pixel offsets."""
    c = kernel.shape[0] // 2
    return np.array([(kernel[c, c + r] + kernel[c, c - r] + kernel[c + r, c] + kernel[c - r, c]) / 4 for r in radii])


def test_gaussian_family_has_the_requested_width():
    fwhm = 0.8
    kernel = psf_kernel({"psf_family": "gaussian", "psf_atm_fwhm_arcsec": fwhm, **ROUND}, SCALE, 41)
    y, x = np.mgrid[:41, :41] - 20.0
    var_x = float((kernel * x**2).sum())
    # a Gaussian of that FWHM convolved with the square pixel (variance 1/12 pixel^2)
    expected = (fwhm / (2 * np.sqrt(2 * np.log(2))) / SCALE) ** 2 + 1 / 12
    assert var_x == pytest.approx(expected, rel=0.01)
    assert float((kernel * y**2).sum()) == pytest.approx(expected, rel=0.01)
    assert psf_fwhm_arcsec({"psf_family": "gaussian", "psf_atm_fwhm_arcsec": fwhm, **ROUND}) == pytest.approx(fwhm, rel=0.01)


@pytest.mark.parametrize("beta", [2.8, 4.5])
def test_moffat_family_has_the_moffat_wings(beta):
    fwhm = 0.7
    params = {"psf_family": "moffat", "psf_atm_fwhm_arcsec": fwhm, "psf_moffat_beta": beta, **ROUND}
    kernel = psf_kernel(params, SCALE, 41)
    radii = np.arange(5, 19)
    # astropy's Moffat2D: gamma the core width, alpha the power (beta); FWHM = 2 gamma sqrt(2^(1/beta) - 1)
    gamma = fwhm / SCALE / (2 * np.sqrt(2 ** (1 / beta) - 1))
    model = Moffat2D(amplitude=1.0, x_0=0.0, y_0=0.0, gamma=gamma, alpha=beta)(radii.astype(float), 0.0)
    measured = _radial(kernel, radii)
    # far from the core the pixel's averaging is negligible: the same power law, to 3 %
    np.testing.assert_allclose(measured / measured[0], model / model[0], rtol=0.03)
    assert psf_fwhm_arcsec(params) == pytest.approx(fwhm, rel=0.01)
    # and the wings are what a Gaussian of the same FWHM lacks
    gauss = psf_kernel({"psf_family": "gaussian", "psf_atm_fwhm_arcsec": fwhm, **ROUND}, SCALE, 41)
    assert _radial(kernel, [10])[0] > 100 * _radial(gauss, [10])[0]


def test_the_default_bank_keeps_to_families_no_training_recipe_uses():
    bank = draw_psf_bank(independent_spec({"psf_bank_size": 40}), seed=70, shard=0)
    assert {p["psf_family"] for p in bank} == set(INDEPENDENT_PSF_FAMILIES)


def test_an_opt_in_family_draws_its_own_parameters():
    spec = independent_spec({"psf_bank_size": 20, "psf_mix": {"moffat": 1}, "moffat_beta": [2.5, 3.0]})
    bank = draw_psf_bank(spec, seed=70, shard=0)
    assert {p["psf_family"] for p in bank} == {"moffat"}
    betas = np.array([p["psf_moffat_beta"] for p in bank])
    assert betas.min() >= 2.5 and betas.max() <= 3.0 and betas.std() > 0
    with pytest.raises(InputError, match="moffat_beta"):
        independent_spec({"moffat_beta": [1.0, 3.0]})
    with pytest.raises(InputError, match="psf_mix.*airy"):
        independent_spec({"psf_mix": {"airy": 1}})


def test_a_moffat_set_renders_and_recreates_from_its_rows(tmp_path):
    assert main(["domain-shift-render", "--n", "6", "--seed", "3", "--set", "psf_bank_size=2",
                 "--set", "supersampling=2", "--set", "min_arc_snr=8", "--set", "psf_mix={moffat: 1}",
                 "--out-dir", str(tmp_path)]) == 0
    table = read_table(tmp_path / "shard_000.parquet")
    images = np.asarray(read_cube(tmp_path / "shard_000.fits")[0])
    assert set(table["psf_family"]) == {"moffat"}
    assert table["psf_fwhm_arcsec"].between(0.5, 1.0).all()
    for i in (0, len(table) - 1):
        np.testing.assert_array_equal(render_from_metadata(table.iloc[i])["r"], images[i])
