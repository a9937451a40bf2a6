"""Simulated images in several bands: colours from SED templates through the survey's filter curves.

A recipe draws every image in the detection band (the ``*_amp`` columns);
:func:`add_band_columns` then writes, for every other band ``b`` of the
recipe's ``bands``, the columns that differ in ``b``:

- ``{component}_amp_{b}`` (scalars and lists): the detection-band amplitude
  times ``10**(-0.4 (m_b - m_det))``, the component's colour;
- ``psf_fwhm_arcsec_{b}``: the detection-band FWHM times the preset's ratio of
  median seeings (``lensfinder.surveys.presets``), times a scatter;
- ``sky_sigma_{b}``: the detection-band sky sigma times ``10**(0.4 (depth_det - depth_b))``
  (the preset's 5-sigma depths, all bands on the recipe's zero point);
- ``image_seed_{b}``: the band's own noise stream;
- ``host_band_{b}``: the band of the host stamp (semi-real rows), and
  ``psf_tile_file_{b}`` the band's tile image (tile ePSF).

The colours: each light component gets a spectral energy distribution, a
mixture of the five kcorrect templates (Blanton & Roweis 2007, AJ 133, 734)
with Dirichlet-distributed weights (Herbel et al. 2017, JCAP 08, 035:
red and blue galaxy populations; the parameters of SkyPy's SDSS example),
redshifted and integrated over the preset's filter curves (speclite) by SkyPy
(``skypy.galaxies.spectrum.kcorrect``). Lens galaxies and passive companions
are red at the lens redshift; lensed sources (smooth, knots, clumps, quasar
images) blue at the source redshift; disks, spirals, irregulars and mergers
blue; rings, companions and group members red or blue with equal odds. Redshifts
are the row's ``z_d``/``z_s`` where the recipe draws them, else uniform in
:data:`LENS_REDSHIFT` / :data:`SOURCE_REDSHIFT`. Stars take the red template
at z = 0 (K-star-like colours). KiDS has no OmegaCAM curves in speclite: the
KiDS preset uses SDSS ``g, r, i`` (``docs/simulation.md``, bands).

Randomness: row ``i`` of shard ``s`` of set seed ``k`` draws its colours
from ``SeedSequence([k, s, i], spawn_key=(COLOUR_STREAM,))``, a stream the
rest of the simulation never uses, so the detection band stays bit for bit
what it is without ``bands``. The drawn amplitudes are written to the row,
so the row alone re-creates every band.
"""

from __future__ import annotations

import functools

import numpy as np

from lensfinder.io import InputError

__all__ = ["COLOUR_STREAM", "LENS_REDSHIFT", "SOURCE_REDSHIFT", "HERBEL_RED", "HERBEL_BLUE", "BAND_COLUMNS",
           "template_fluxes", "sed_colours", "add_band_columns", "band_view", "component_classes"]

#: spawn key of the colour stream (``"colr"``)
COLOUR_STREAM = 0x636F6C72
#: Redshifts of lens galaxies and lensed sources when the recipe draws none (KiDS LRG lenses,
#: Li et al. 2020 section 2: z < 0.6; lensed sources of galaxy-scale lenses: z ~ 1-3,
#: e.g. the SLACS and SL2S samples).
LENS_REDSHIFT = (0.15, 0.65)
SOURCE_REDSHIFT = (0.8, 3.0)
#: Herbel et al. 2017 Dirichlet parameters (alpha0, alpha1, weights) of red and blue galaxies,
#: as in SkyPy's SDSS photometry example.
HERBEL_RED = ((2.461, 2.358, 2.568, 2.268, 2.402), (2.410, 2.340, 2.200, 2.540, 2.464),
              (3.84e+09, 1.57e+06, 3.91e+08, 4.66e+10, 3.03e+07))
HERBEL_BLUE = ((2.079, 3.524, 1.917, 1.992, 2.536), (2.265, 3.862, 1.921, 1.685, 2.480),
               (3.47e+09, 3.31e+06, 2.13e+09, 1.64e+10, 1.01e+09))
#: Observation columns with a value per band (``{column}_{band}`` for the non-detection bands).
BAND_COLUMNS = ("psf_fwhm_arcsec", "sky_sigma", "image_seed", "host_band", "psf_tile_file", "psf_kernel_hash")
#: Redshift grid of the template fluxes (linear interpolation between nodes).
_Z_GRID = np.linspace(0.0, 4.0, 81)
_SCALAR = ("lens_light", "disk", "companion", "source", "point_source")
_LISTS = ("extra", "clump", "blob", "point")
#: kinds whose central galaxy (``lens_light``) is star-forming; rings are red or blue (resonance rings of
#: S0 galaxies are old and red, collisional rings blue: Buta & Combes 1996, Fund. Cosmic Phys. 17, 95)
_BLUE_CENTRAL = {"irregular", "spiral", "edge_on", "merger"}
_RANDOM_CENTRAL = {"ring"}


@functools.lru_cache(maxsize=8)
def template_fluxes(filters: tuple) -> np.ndarray:
    """Fluxes (arbitrary common units) of the five kcorrect templates, shape (len(_Z_GRID), 5, n_filters).

    SkyPy's ``kcorrect.apparent_magnitudes`` of each template alone at every
    grid redshift (the template's own normalisation; z = 0 is taken at 0.005).
    """
    import warnings

    from astropy.cosmology import Planck18

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from skypy.galaxies.spectrum import kcorrect

    z = np.maximum(_Z_GRID, 0.005)
    coefficients = np.tile(np.eye(5), (len(z), 1))
    try:
        mags = kcorrect.apparent_magnitudes(coefficients, np.repeat(z, 5), list(filters), Planck18)
    except ValueError as exc:
        raise InputError(f"filter curves {list(filters)}: {exc}") from None
    return (10.0 ** (-0.4 * mags)).reshape(len(z), 5, len(filters))


def _dirichlet(rng, z, population):
    """kcorrect template weights of one galaxy at redshift ``z`` (Herbel et al. 2017, eq. 3)."""
    alpha0, alpha1, weight = (np.asarray(v, dtype=float) for v in population)
    alpha = alpha0 ** (1.0 - z) * alpha1 ** z
    c = rng.dirichlet(alpha) * weight
    return c / c.sum()


def sed_colours(coefficients, z, filters: tuple, reference: int) -> np.ndarray:
    """``m_b - m_reference`` per filter of SEDs with template ``coefficients`` (5,) at redshift ``z``."""
    grid = template_fluxes(tuple(filters))
    zz = float(np.clip(z, _Z_GRID[0], _Z_GRID[-1]))
    k = min(int(np.searchsorted(_Z_GRID, zz, side="right")) - 1, len(_Z_GRID) - 2)
    t = (zz - _Z_GRID[k]) / (_Z_GRID[k + 1] - _Z_GRID[k])
    flux = np.asarray(coefficients, dtype=float) @ ((1 - t) * grid[k] + t * grid[k + 1])
    return -2.5 * np.log10(flux / flux[reference])


def component_classes(kind: str) -> dict:
    """Colour class (``red``, ``blue``, ``star``, ``random``) of each component of a row of ``kind``."""
    central = ("star" if kind == "star" else "blue" if kind in _BLUE_CENTRAL else
               "random" if kind in _RANDOM_CENTRAL else "red")
    return {"lens_light": central, "disk": "blue", "companion": "random", "source": "source",
            "point_source": "source", "extra": "random", "clump": "source", "blob": "blue" if kind != "star_blend"
            else "star", "point": "source"}


def add_band_columns(df, bands, preset):
    """``df`` (metadata rows of one recipe, detection band drawn) with the columns of the other ``bands``.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows from :func:`lensfinder.simulation.shards.draw_table`, arcs already scaled.
    bands : sequence of str
        Bands to write, the preset's detection band among them.
    preset : lensfinder.surveys.presets.SurveyPreset

    Returns
    -------
    pandas.DataFrame
        A copy with the ``*_{band}`` columns (module docstring).
    """
    det = preset.detection_band
    bands = tuple(bands)
    if det not in bands:
        raise InputError(f"bands: {list(bands)}: the detection band {det} of preset {preset.name} must be among them")
    others = [b for b in bands if b != det]
    df = df.copy()
    df["detection_band"] = det
    if "host_file" in df:
        df["host_band"] = np.where(df["host_file"].to_numpy() != "", det, "")
    if not others or not len(df):
        for b in others:
            for c in BAND_COLUMNS:
                if c in df:
                    df[f"{c}_{b}"] = df[c]
        return df
    filters = tuple(preset.band(b).filter_curve for b in (det, *others))
    spec_det = preset.band(det)
    n = len(df)
    amp_scalar = {p: df[f"{p}_amp"].to_numpy(dtype=float) for p in _SCALAR if f"{p}_amp" in df}
    amp_lists = {p: list(df[f"{p}_amp"]) for p in _LISTS if f"{p}_amp" in df}
    out_scalar = {(p, b): np.full(n, np.nan) for p in amp_scalar for b in others}
    out_lists = {(p, b): [None] * n for p in amp_lists for b in others}
    fwhm_scatter = np.empty((n, len(others)))
    seeds = np.empty((n, len(others)), dtype=np.uint64)
    z_d = df["z_d"].to_numpy(dtype=float) if "z_d" in df else np.full(n, np.nan)
    z_s = df["z_s"].to_numpy(dtype=float) if "z_s" in df else np.full(n, np.nan)
    image_seeds = df["image_seed"].to_numpy(dtype=np.uint64) if "image_seed" in df else np.zeros(n, np.uint64)
    keys = zip(df["seed"].to_numpy(), df["shard"].to_numpy(), df["index"].to_numpy(), df["kind"].to_numpy())
    for i, (seed, shard, index, kind) in enumerate(keys):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(shard), int(index)],
                                                           spawn_key=(COLOUR_STREAM,)))
        zl = z_d[i] if np.isfinite(z_d[i]) else rng.uniform(*LENS_REDSHIFT)
        zs = z_s[i] if np.isfinite(z_s[i]) else rng.uniform(*SOURCE_REDSHIFT)
        cache = {}

        def colour(cls):
            if cls == "random":
                cls = "red" if rng.random() < 0.5 else "blue"
            if cls == "source" and "source" in cache:  # one SED for every part of the source
                return cache["source"]
            population = HERBEL_BLUE if cls in ("blue", "source") else HERBEL_RED
            z = {"source": zs, "star": 0.0}.get(cls, zl)
            value = 10.0 ** (-0.4 * sed_colours(_dirichlet(rng, z, population), z, filters, 0)[1:])
            if cls == "source":
                cache["source"] = value
            return value

        classes = component_classes(str(kind))
        for p, amp in amp_scalar.items():
            if np.isfinite(amp[i]) and amp[i] != 0:
                factor = colour(classes[p])
                for k, b in enumerate(others):
                    out_scalar[(p, b)][i] = amp[i] * factor[k]
        for p, lists in amp_lists.items():
            values = lists[i]
            factors = [colour(classes[p]) for _ in values]
            for k, b in enumerate(others):
                out_lists[(p, b)][i] = [float(a) * f[k] for a, f in zip(values, factors)]
        fwhm_scatter[i] = rng.uniform(0.92, 1.08, len(others))
        seeds[i] = np.random.SeedSequence([int(image_seeds[i])],
                                          spawn_key=(COLOUR_STREAM, 1)).generate_state(len(others), np.uint64)
    for (p, b), values in out_scalar.items():
        df[f"{p}_amp_{b}"] = values
    for (p, b), values in out_lists.items():
        df[f"{p}_amp_{b}"] = values
    fwhm = df["psf_fwhm_arcsec"].to_numpy(dtype=float)
    sky = df["sky_sigma"].to_numpy(dtype=float)
    for k, b in enumerate(others):
        spec = preset.band(b)
        df[f"psf_fwhm_arcsec_{b}"] = fwhm * (spec.psf_fwhm_arcsec / spec_det.psf_fwhm_arcsec) * fwhm_scatter[:, k]
        df[f"sky_sigma_{b}"] = sky * 10.0 ** (0.4 * (spec_det.depth_mag_5sigma - spec.depth_mag_5sigma))
        df[f"image_seed_{b}"] = seeds[:, k]
        if "host_file" in df:
            df[f"host_band_{b}"] = np.where(df["host_file"].to_numpy() != "", b, "")
        if "psf_tile_file" in df:
            df[f"psf_tile_file_{b}"] = [_band_file(f, det, b) for f in df["psf_tile_file"]]
            df[f"psf_kernel_hash_{b}"] = ""  # checked only where recorded
    return df


def _band_file(path: str, det: str, band: str) -> str:
    """``{tile}.{det}.fits`` -> ``{tile}.{band}.fits`` (a one-band tile ``{tile}.fits`` has no other band)."""
    suffix = f".{det}.fits"
    return path[:-len(suffix)] + f".{band}.fits" if path.endswith(suffix) else ""


def band_view(df, band: str):
    """``df`` as the detection-band renderer reads it, for ``band``: its ``*_{band}`` columns in
    place of the detection band's (amplitudes and :data:`BAND_COLUMNS`). The detection band
    is the rows' ``detection_band`` (r for rows simulated before bands existed)."""
    det = str(df["detection_band"].iat[0]) if "detection_band" in df and len(df) else "r"
    if band == det:
        return df
    suffix = f"_{band}"
    rename = {}
    for c in df.columns:
        if not c.endswith(suffix):
            continue
        base = c[:-len(suffix)]
        if base.endswith("_amp") or base in BAND_COLUMNS:
            rename[c] = base
    if not any(c.endswith("_amp") for c in rename.values()):
        bands = sorted({c.rsplit("_", 1)[1] for c in df.columns if "_amp_" in c} | {det})
        raise InputError(f"metadata: *_amp_{band}: no amplitudes of band {band!r}; the rows hold "
                         f"{', '.join(bands)}")
    return df.drop(columns=[c for c in rename.values() if c in df], errors="ignore").rename(columns=rename)
