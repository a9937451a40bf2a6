"""Survey presets: declared bands and numbers, stamp sizes, and each preset through a dry run of the workflow."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from lensfinder.io import InputError
from lensfinder.surveys.presets import MOCK_PRESETS, PRESET_NAMES, get_preset, stamp_size_pix, survey_preset

from helpers.early_runs import early_test
from helpers.workflow_run import REPO


def test_stamp_sizes_follow_the_arcsec_size_and_the_pixel_scale():
    sizes = {name: stamp_size_pix(get_preset(name)) for name in PRESET_NAMES}
    # KiDS 20" at 0.2"/px: Li et al.'s 101; Euclid VIS at 0.1"/px: 201; HSC 0.168"/px: 119; DECam (DES,
    # Legacy) 26.5" at 0.263"/px: 101, which he2020's 2x2 binning needs
    assert sizes == {"kids": 101, "hsc": 119, "lsst": 101, "euclid": 201, "des": 101, "legacy": 101}
    assert all(size % 2 for size in sizes.values())


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_band_is_declared_with_sane_numbers(name):
    preset = get_preset(name)
    assert preset.detection_band in preset.bands
    for band in preset.all_bands:
        spec = preset.band(band)
        assert spec.name == band and 0.05 < spec.psf_fwhm_arcsec < 2.0 and 20 < spec.depth_mag_5sigma < 28
        assert 15 < spec.sky_mag_arcsec2 < 24 and 20 < spec.zeropoint_mag < 35
        assert spec.filter_curve.endswith(f"-{band}")


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_filter_curves_are_speclite_filters(name):
    filters = pytest.importorskip("speclite.filters", reason="speclite is not installed")
    for band in get_preset(name).all_bands:
        curve = filters.load_filter(get_preset(name).band(band).filter_curve)
        assert curve.effective_wavelength.value > 0


def test_the_kids_preset_is_kids_dr4():
    """KiDS DR4's depths (the mock catalogue's photometric errors use them too), SDSS curves as OmegaCAM's."""
    from lensfinder.surveys.mock.catalog import KIDS_DR4_DEPTH_MAG

    kids = get_preset("kids")
    assert {b: kids.band(b).depth_mag_5sigma for b in kids.all_bands} == KIDS_DR4_DEPTH_MAG
    assert kids.bands == ("g", "r", "i") and kids.detection_band == "r"
    assert kids.band("r").filter_curve == "sdss2010-r"  # SDSS stands in for OmegaCAM


def test_bad_names_and_bands_are_named():
    with pytest.raises(InputError, match="survey preset 'sdss': expected one of kids, hsc"):
        get_preset("sdss")
    with pytest.raises(InputError, match=r"survey preset euclid: band 'r': expected one of VIS, Y, J, H"):
        get_preset("euclid").band("r")
    with pytest.raises(InputError, match=r"config: bands: \['g', 'g'\]: expected distinct bands of survey preset kids"):
        get_preset("kids").check_bands(["g", "g"], "config: bands")
    assert survey_preset("legacy_dr10").bands == ("g", "r", "z")
    assert survey_preset("kids_dr3").name == "kids" and survey_preset("mock", "hsc").name == "hsc"
    with pytest.raises(InputError, match="mock.preset: 'legacy'"):
        survey_preset("mock", "legacy")


#: kids is the default run's (tests/workflow), lsst has its geometry (0.2"/px, 101 px): the others
@early_test(8)
@pytest.mark.parametrize("name", sorted(set(MOCK_PRESETS) - {"kids", "lsst"}))
def test_every_mock_preset_dry_runs(tmp_path, name, repo_root=REPO):
    config = tmp_path / "preset.yaml"
    config.write_text(f"mock: {{preset: {name}, n_tiles: 3}}\nlearning: {{rounds: 0}}\n")
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "-s", str(repo_root / "Snakefile"), "-d", str(tmp_path),
           "--configfile", str(repo_root / "config/config.yaml"), str(config)]
    result = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    stamps = next(line for line in result.stdout.splitlines() if "lensfinder stamps " in line)
    assert f"--size {stamp_size_pix(get_preset(name))} " in stamps
    assert re.search(r"--bands \S+( \S+)* --detection-band", stamps)
