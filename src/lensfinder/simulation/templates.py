"""Fluxes of the kcorrect SED templates through survey filters, computed by SkyPy and tabulated.

:func:`lensfinder.simulation.colours.sed_colours` interpolates, in redshift,
the fluxes of the five kcorrect templates (Blanton & Roweis 2007, AJ 133,
734) through each band's filter curve. SkyPy computes them
(``skypy.galaxies.spectrum.kcorrect.apparent_magnitudes`` with Planck18, the
filters from speclite), but a simulation process paid for it on every start:
about 3 s for three filters on an idle core, and 5-6 s more to import
astropy.cosmology and SkyPy, in every ``lensfinder simulate`` job
(``benchmarks/templates.py``).

So the fluxes of every preset's filters ship with the package
(``data/template_fluxes.npz``: one (81, 5) array per speclite filter name,
the redshift grid, and the SkyPy and speclite versions that made them).
:func:`template_fluxes` takes a filter from the table when it is there and
asks SkyPy for any other filter (a user's own curves). The table holds
SkyPy's own numbers as computed where it was written; SkyPy on a CPU with
other vector units (AVX-512 against AVX2) differs from them in the last
bits, 8e-15 relative (``tests/simulation/test_templates.py`` checks that
every preset filter is there and recomputes one of each family to 1e-12),
and the simulated images are the same with and without the table
(``benchmarks/templates.py`` compares them).
After a SkyPy or speclite update, or a new preset band, rewrite it with::

    python -m lensfinder.simulation.templates
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from lensfinder.io import InputError

__all__ = ["Z_GRID", "TABLE_PATH", "template_fluxes", "skypy_template_fluxes", "tabulated_filters",
           "preset_filters", "write_table"]

#: Redshift grid of the template fluxes (linear interpolation between nodes; z = 0 is taken at 0.005).
Z_GRID = np.linspace(0.0, 4.0, 81)
#: The shipped table of every preset filter's template fluxes.
TABLE_PATH = Path(__file__).with_name("data") / "template_fluxes.npz"
#: Keys of the table that are not filters.
_META = ("z_grid", "skypy_version", "speclite_version")


def skypy_template_fluxes(filters) -> np.ndarray:
    """SkyPy's fluxes of the five templates alone at every :data:`Z_GRID` redshift, (81, 5, n_filters).

    ``10**(-0.4 m)`` of ``kcorrect.apparent_magnitudes`` of each template (its own normalisation)
    with Planck18; ``filters`` are speclite names. The templates start in the far ultraviolet
    (about 600 A), so SkyPy refuses a filter whose blue edge, shifted to the rest frame, lies below
    that (SDSS u above z = 3.85, Euclid's VIS at z = 4): at those grid nodes a filter keeps its fluxes of
    the highest redshift SkyPy computes (the recipes draw sources at z <= 3.5).
    """
    filters = list(filters)
    try:
        return _skypy_fluxes(filters, Z_GRID)
    except ValueError:
        pass
    columns = []
    for f in filters:
        flux = _covered_fluxes(f)
        columns.append(np.concatenate([flux, np.repeat(flux[-1:], len(Z_GRID) - len(flux), axis=0)]))
    return np.stack(columns, axis=-1)


def _covered_fluxes(name: str) -> np.ndarray:
    """SkyPy's fluxes of filter ``name`` on the longest prefix of :data:`Z_GRID` it covers, (m, 5);
    the rest frame gets bluer as z rises, so the prefix is found by bisection."""
    try:
        return _skypy_fluxes([name], Z_GRID)[..., 0]
    except ValueError:
        pass
    lo, hi, flux = 0, len(Z_GRID), None  # nodes [0, lo] computed (as ``flux``), [0, hi] refused
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            flux = _skypy_fluxes([name], Z_GRID[:mid + 1])[..., 0]
            lo = mid
        except ValueError:
            hi = mid
    if flux is None:  # nothing beyond the first node: that node alone, or SkyPy's reason why not
        try:
            flux = _skypy_fluxes([name], Z_GRID[:1])[..., 0]
        except ValueError as exc:
            raise InputError(f"filter curve {name!r}: {exc}") from None
    return flux


def _skypy_fluxes(filters: list, z_grid) -> np.ndarray:
    """``10**(-0.4 m)`` of SkyPy's magnitudes of each template at ``z_grid``, (len(z_grid), 5, n_filters);
    SkyPy's ValueError where a filter is not covered."""
    import warnings

    from astropy.cosmology import Planck18

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from skypy.galaxies.spectrum import kcorrect

    z = np.maximum(np.asarray(z_grid, dtype=float), 0.005)
    coefficients = np.tile(np.eye(5), (len(z), 1))
    mags = kcorrect.apparent_magnitudes(coefficients, np.repeat(z, 5), filters, Planck18)
    return (10.0 ** (-0.4 * mags)).reshape(len(z), 5, len(filters))


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    """The shipped table, {filter: (81, 5)}; empty where it is missing or made on another grid."""
    if not TABLE_PATH.exists():
        return {}
    with np.load(TABLE_PATH) as data:
        if "z_grid" not in data or not np.array_equal(data["z_grid"], Z_GRID):
            return {}
        return {k: data[k] for k in data.files if k not in _META}


def tabulated_filters() -> tuple:
    """The speclite filter names in the shipped table."""
    return tuple(sorted(_table()))


@functools.lru_cache(maxsize=8)
def template_fluxes(filters: tuple) -> np.ndarray:
    """Fluxes (arbitrary common units) of the five kcorrect templates, shape (81, 5, n_filters).

    From the shipped table where it holds a filter, from :func:`skypy_template_fluxes` for the
    others (the same numbers). ``LENSFINDER_TEMPLATE_TABLE=0`` in the environment ignores the
    table (benchmarks, checks).
    """
    filters = tuple(filters)
    table = _table() if os.environ.get("LENSFINDER_TEMPLATE_TABLE", "1") != "0" else {}
    missing = [f for f in dict.fromkeys(filters) if f not in table]
    computed = dict(zip(missing, np.moveaxis(skypy_template_fluxes(missing), -1, 0))) if missing else {}
    out = np.stack([table[f] if f in table else computed[f] for f in filters], axis=-1)
    out.flags.writeable = False
    return out


def preset_filters() -> tuple:
    """Every speclite filter a survey preset's bands use (``lensfinder.surveys.presets``)."""
    from lensfinder.surveys.presets.registry import PRESETS

    return tuple(sorted({b.filter_curve for p in PRESETS.values() for b in p.band_specs}))


def write_table(path=TABLE_PATH, filters=None) -> Path:
    """Compute every preset filter's fluxes (or ``filters``') with SkyPy and write the table, atomically."""
    import skypy
    import speclite

    from lensfinder.io import atomic_path

    filters = tuple(filters) if filters is not None else preset_filters()
    fluxes = skypy_template_fluxes(filters)
    arrays = {f: np.ascontiguousarray(fluxes[..., k]) for k, f in enumerate(filters)}
    path = Path(path)
    with atomic_path(path) as tmp:  # creates the folder
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, z_grid=Z_GRID, skypy_version=np.array(skypy.__version__),
                                speclite_version=np.array(speclite.__version__), **arrays)
    _table.cache_clear()
    template_fluxes.cache_clear()
    return path


if __name__ == "__main__":  # pragma: no cover - a maintainer's command (module docstring)
    print(f"wrote {write_table()}: {', '.join(tabulated_filters())}")
