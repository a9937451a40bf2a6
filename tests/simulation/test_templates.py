"""The tabulated template fluxes: SkyPy's own numbers, read without importing SkyPy; other filters computed."""

import subprocess
import sys

import numpy as np
import pytest

from lensfinder.simulation import templates
from lensfinder.simulation.shards import simulate_shard

pytest.importorskip("skypy", reason="the colour simulation needs SkyPy's kcorrect templates")

#: one filter family per preset
SAMPLE = ("sdss2010-g", "sdss2010-r", "sdss2010-i", "Euclid-H", "lsst2023-z", "decam2014-g", "hsc2017-y")
#: the filters SkyPy covers only up to a redshift below the grid's end (u, Euclid's VIS), and that redshift
CLAMPED = {"sdss2010-u": 3.85, "Euclid-VIS": 3.95}


#: how far SkyPy's own fluxes may differ from the table's: the table holds the numbers of the machine
#: that wrote it, and SkyPy on a CPU with other vector units (AVX-512 against AVX2) sums in another
#: order and differs in the last bits (8e-15 measured); a wrong filter or grid differs by far more
RTOL = 1e-12


def test_the_table_holds_every_preset_filter_and_skypys_fluxes():
    assert set(templates.preset_filters()) <= set(templates.tabulated_filters())
    assert set(SAMPLE) | set(CLAMPED) <= set(templates.preset_filters())
    np.testing.assert_allclose(templates.template_fluxes(SAMPLE), templates.skypy_template_fluxes(SAMPLE),
                               rtol=RTOL, atol=0)
    assert templates.template_fluxes(SAMPLE).shape == (len(templates.Z_GRID), 5, len(SAMPLE))
    for name, z_max in CLAMPED.items():
        n = int(np.sum(templates.Z_GRID <= z_max + 1e-9))
        np.testing.assert_allclose(templates.template_fluxes((name,))[:n, :, 0],
                                   templates._skypy_fluxes([name], templates.Z_GRID[:n])[..., 0], rtol=RTOL, atol=0)
    # one band's fluxes are not another's: the tolerance tells filters apart
    assert not np.allclose(templates.template_fluxes(("sdss2010-g",)), templates.template_fluxes(("sdss2010-r",)),
                           rtol=1e-3, atol=0)


def test_a_fresh_process_reads_the_table_without_importing_skypy_or_a_cosmology():
    code = ("import sys; from lensfinder.simulation.colours import template_fluxes; "
            "g = template_fluxes(('sdss2010-g', 'sdss2010-r', 'sdss2010-i')); "
            "print(g.shape, 'skypy' in sys.modules, 'astropy.cosmology' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["(81,", "5,", "3)", "False", "False"]


def test_filters_outside_the_table_are_computed_by_skypy_in_order(monkeypatch):
    assert "bessell-V" not in templates.tabulated_filters()
    templates.template_fluxes.cache_clear()
    mixed = templates.template_fluxes(("sdss2010-r", "bessell-V", "sdss2010-g"))
    computed = templates.skypy_template_fluxes(("sdss2010-r", "bessell-V", "sdss2010-g"))
    np.testing.assert_array_equal(mixed[..., 1], computed[..., 1])  # computed here, as SkyPy computes it
    np.testing.assert_allclose(mixed, computed, rtol=RTOL, atol=0)  # the table's, in their places
    monkeypatch.setenv("LENSFINDER_TEMPLATE_TABLE", "0")
    templates.template_fluxes.cache_clear()
    try:
        np.testing.assert_array_equal(templates.template_fluxes(("sdss2010-r",)), computed[..., :1])
        with pytest.raises(ValueError, match="read-only"):
            templates.template_fluxes(("sdss2010-r",))[0, 0, 0] = 1.0
    finally:
        templates.template_fluxes.cache_clear()


def test_a_missing_or_other_grid_table_falls_back_to_skypy(tmp_path, monkeypatch):
    monkeypatch.setattr(templates, "TABLE_PATH", tmp_path / "none.npz")
    templates._table.cache_clear()
    templates.template_fluxes.cache_clear()
    try:
        assert templates.tabulated_filters() == ()
        path = templates.write_table(tmp_path / "t.npz", filters=("sdss2010-r", "sdss2010-g"))
        monkeypatch.setattr(templates, "TABLE_PATH", path)
        templates._table.cache_clear()
        assert templates.tabulated_filters() == ("sdss2010-g", "sdss2010-r")
        np.savez(path, z_grid=templates.Z_GRID[:10], **{"sdss2010-r": np.zeros((10, 5))})
        templates._table.cache_clear()
        assert templates.tabulated_filters() == ()
    finally:
        templates._table.cache_clear()
        templates.template_fluxes.cache_clear()
    assert not list(tmp_path.glob(".t.npz.*"))  # the atomic write left no temporary file


def test_u_and_euclid_vis_beyond_the_templates_keep_their_last_computed_fluxes():
    """SkyPy refuses u above z = 3.85 and VIS above 3.95 (the templates start near 600 A): those nodes
    repeat the last one, so KiDS's u and Euclid's VIS + NISP simulations run (they raised before)."""
    grid = templates.template_fluxes((*CLAMPED, "sdss2010-r"))
    assert np.all(np.isfinite(grid)) and np.all(grid > 0)
    z = templates.Z_GRID
    for k, z_max in enumerate(CLAMPED.values()):
        same = np.array([np.array_equal(grid[i, :, k], grid[-1, :, k]) for i in range(len(z))])
        assert z[np.argmax(same)] == pytest.approx(z_max)  # the last node computed, then its copies
        assert same[z >= z_max - 1e-9].all() and not same[z < z_max - 1e-9].any()
    assert not np.array_equal(grid[-2, :, 2], grid[-1, :, 2])  # r is computed at every node
    images, df = simulate_shard("skeleton", 6, 3, 0, params={"bands": ["VIS", "Y", "J"], "preset": "euclid"},
                                progress=False)
    assert images.shape[1] == 3 and np.isfinite(images).all()
    lenses = df["is_lens"].astype(bool)
    assert lenses.any() and (df.loc[lenses, "source_amp_Y"] > 0).all()
    images, _ = simulate_shard("skeleton", 4, 3, 0, params={"bands": ["u", "g", "r"]}, progress=False)
    assert images.shape[1] == 3 and np.isfinite(images).all()
