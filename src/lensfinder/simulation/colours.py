"""Simulated images in several bands: colours from SED templates through the survey's filter curves.

A recipe draws every image in the detection band (the ``*_amp`` columns);
:func:`add_band_columns` then writes, for every other band ``b`` of the
recipe's ``bands``, the columns that differ in ``b``:

- ``{component}_amp_{b}`` (scalars and lists): the detection-band amplitude
  times ``10**(-0.4 (m_b - m_det))``, the component's colour;
- ``psf_fwhm_arcsec_{b}``: the detection-band FWHM times the preset's ratio of
  median seeings (``lensfinder.surveys.presets``), times a scatter; a semi-real
  row's host seeing in ``b`` where its stamp index gives it (``host_psf_fwhm_arcsec_{b}``),
  and its arcs' amplitudes in that band's counts (``host_zeropoint_mag_{b}``);
- ``sky_sigma_{b}``: the detection-band sky sigma times ``10**(0.4 (depth_det - depth_b))``
  (the preset's 5-sigma depths, all bands on the recipe's zero point), the depth difference
  scattered by up to +-``depth_scatter_mag`` per row and band (the recipe's
  ``band_depth_scatter_mag``; survey depths vary from tile to tile and band to band, so the
  colours a network sees in units of each band's noise are not fixed by one depth ratio);
- ``gain_{b}``: electrons per count, the detection band's gain times the ratio of the bands' sky
  counts (the preset's sky brightness) over the ratio of their sky variances: the mock survey's
  tiles' gains (``lensfinder.surveys.mock.sky.background_noise``), so that an object's Poisson noise
  in each band is that band's (one gain for every band gave the i band half its Poisson sigma);
- ``image_seed_{b}``: the band's own noise stream;
- ``aug_seed_{b}`` (semi-real rows): the band's own stream of the noise that fills the pixels a
  rotation or shift of the host stamp leaves empty (one stream for every band gave the fill the
  same noise pattern in g, r and i);
- ``host_band_{b}``: the band of the host stamp (semi-real rows), and
  ``psf_tile_file_{b}`` the band's tile image (tile ePSF) and ``psf_kernel_hash_{b}``
  the hash of its ePSF, checked on re-rendering.

The colours: each light component gets a spectral energy distribution, a
mixture of the five kcorrect templates (Blanton & Roweis 2007, AJ 133, 734)
with Dirichlet-distributed weights (Herbel et al. 2017, JCAP 08, 035:
red and blue galaxy populations; the parameters of SkyPy's SDSS example),
redshifted and integrated over the preset's filter curves (speclite) by SkyPy
(``skypy.galaxies.spectrum.kcorrect``; every preset filter's template fluxes
ship tabulated, :mod:`lensfinder.simulation.templates`). Lens galaxies and passive companions
are red at the lens redshift; lensed sources (smooth, knots, clumps, quasar
images) blue at the source redshift; disks, spirals, irregulars and mergers
blue; rings and companions red or blue with equal odds, satellites and field galaxies
as their drawer chose (``satellite_blue_fraction``, ``field_blue_fraction``; column
``extra_blue``), group members red, with blue
star-forming knots (``ring``) or a red ring of old stars (``passive_ring``). Redshifts
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

import numpy as np

from lensfinder.io import InputError
from lensfinder.simulation.host_bands import apply_host_bands
from lensfinder.simulation.templates import Z_GRID as _Z_GRID
from lensfinder.simulation.templates import template_fluxes

__all__ = ["COLOUR_STREAM", "LENS_REDSHIFT", "SOURCE_REDSHIFT", "HERBEL_RED", "HERBEL_BLUE", "BAND_COLUMNS",
           "template_fluxes", "sed_colours", "add_band_columns", "depth_offsets", "colour_offsets", "band_view",
           "component_classes"]

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
BAND_COLUMNS = ("psf_fwhm_arcsec", "sky_sigma", "gain", "image_seed", "host_band", "psf_tile_file",
                "psf_kernel_hash", "aug_seed")
_SCALAR = ("lens_light", "disk", "companion", "source", "point_source")
_LISTS = ("extra", "clump", "blob", "point")
#: kinds whose central galaxy (``lens_light``) is star-forming; rings are red or blue (resonance rings of
#: S0 galaxies are old and red, collisional rings blue: Buta & Combes 1996, Fund. Cosmic Phys. 17, 95)
_BLUE_CENTRAL = {"irregular", "spiral", "grand_design", "edge_on", "merger"}
_RANDOM_CENTRAL = {"ring"}
#: (alpha0, alpha1) and template weights of :data:`HERBEL_RED` (0) and :data:`HERBEL_BLUE` (1), as arrays
_ALPHAS = tuple(tuple(np.asarray(v, dtype=float) for v in pop[:2]) for pop in (HERBEL_RED, HERBEL_BLUE))
_WEIGHTS = np.array([HERBEL_RED[2], HERBEL_BLUE[2]], dtype=float)


def sed_colours(coefficients, z, filters: tuple, reference: int) -> np.ndarray:
    """``m_b - m_reference`` per filter of SEDs with template ``coefficients``, (5,) or (m, 5), at
    redshift ``z`` (a number, or (m,)): the template grid interpolated linearly in redshift."""
    c = np.asarray(coefficients, dtype=float)
    single = c.ndim == 1
    c = c.reshape(-1, 5)
    grid = template_fluxes(tuple(filters))
    zz = np.clip(np.broadcast_to(np.asarray(z, dtype=float), (len(c),)), _Z_GRID[0], _Z_GRID[-1])
    k = np.minimum(np.searchsorted(_Z_GRID, zz, side="right") - 1, len(_Z_GRID) - 2)
    t = (zz - _Z_GRID[k]) / (_Z_GRID[k + 1] - _Z_GRID[k])
    flux = (c[:, None, :] @ ((1 - t)[:, None, None] * grid[k] + t[:, None, None] * grid[k + 1]))[:, 0, :]
    colours = -2.5 * np.log10(flux / flux[:, reference:reference + 1])
    return colours[0] if single else colours


def _band_factors(draws, raw, population, z, filters: tuple) -> np.ndarray:
    """``10**(-0.4 (m_b - m_det))`` for every non-detection filter of many SEDs at once, shape (m, n_filters - 1).

    ``draws`` (m, 5) are the Dirichlet draws of the template weights (Herbel et al. 2017, eq. 3:
    ``Generator.dirichlet`` of ``alpha0**(1 - z) * alpha1**z``) or, where ``raw`` (m,), the gamma
    variates that ``Generator.dirichlet`` normalises; ``population`` (m,) 0 (red) or 1 (blue),
    ``z`` (m,) the redshifts. The draws are weighted by the population's template weights and
    normalised, then :func:`sed_colours` gives every SED's colours at once (~100x faster than a
    Python call per component).
    """
    draws = np.array(draws, dtype=float).reshape(-1, 5)
    raw = np.asarray(raw, dtype=bool)
    if raw.any():  # Generator.dirichlet: x_j / sum_j x_j, the sum accumulated from 0 in order, as x_j * (1 / sum)
        g = draws[raw]
        acc = np.zeros(len(g))
        for j in range(g.shape[1]):
            acc = acc + g[:, j]
        draws[raw] = g * (1.0 / acc)[:, None]
    c = draws * _WEIGHTS[population]
    c = c / c.sum(axis=1, keepdims=True)
    return 10.0 ** (-0.4 * sed_colours(c, z, filters, 0)[:, 1:])


def component_classes(kind: str, lens_light_model: str = "") -> dict:
    """Colour class (``red``, ``blue``, ``star``, ``random``) of each component of a row of ``kind``.

    The second component of the central galaxy (the ``disk_*`` columns) is a blue disk, except the
    envelope of a ``double_sersic`` lens light, which is the old stellar halo of its core: the
    core's class (its own SED).
    """
    central = ("star" if kind == "star" else "blue" if kind in _BLUE_CENTRAL else
               "random" if kind in _RANDOM_CENTRAL else "red")
    return {"lens_light": central, "disk": central if lens_light_model == "double_sersic" else "blue",
            "companion": "random", "source": "source",
            "point_source": "source", "extra": "random", "clump": "source",
            "blob": "star" if kind == "star_blend" else "red" if kind == "passive_ring" else "blue", "point": "source"}


def add_band_columns(df, bands, preset, depth_scatter_mag: float = 0.0, colour_scatter_mag: float = 0.0):
    """``df`` (metadata rows of one recipe, detection band drawn) with the columns of the other ``bands``.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows from :func:`lensfinder.simulation.shards.draw_table`, arcs already scaled.
    bands : sequence of str
        Bands to write, the preset's detection band among them.
    preset : lensfinder.surveys.presets.SurveyPreset
    depth_scatter_mag : float or array of float (one per row)
        Half-width (mag) of the uniform scatter of each other band's depth against the detection
        band's, per rendered row and band, from the row's own stream (:func:`depth_offsets`);
        0 (the default) keeps the preset's depth ratios. Semi-real rows keep their host's noise.
    colour_scatter_mag : float or array of float (one per row)
        Gaussian sigma (mag) of an offset of every SED's colours, per SED and other band, from the
        row's own stream (:func:`colour_offsets`); 0 (the default) keeps the templates' colours.

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
    sed, fwhm_scatter, seeds = _draw_seds(df, amp_scalar, amp_lists, len(others))
    factors = _band_factors(sed.draws, sed.raw, np.array(sed.population, dtype=np.int64),
                            np.array(sed.z, dtype=float), filters)
    colour_scatter = np.broadcast_to(np.asarray(colour_scatter_mag, dtype=float), (n,))
    if (colour_scatter > 0).any():
        factors = factors * 10.0 ** (-0.4 * colour_offsets(df, np.array(sed.row, dtype=np.int64), len(others),
                                                            colour_scatter))
    for p, amp in amp_scalar.items():
        which = np.array(sed.scalar[p], dtype=np.int64)
        has = which >= 0
        for k, b in enumerate(others):
            values = np.full(n, np.nan)
            values[has] = amp[has] * factors[which[has], k]
            df[f"{p}_amp_{b}"] = values
    for p, lists in amp_lists.items():
        flat = np.array([a for values in lists for a in values], dtype=float)
        bounds = np.cumsum([0] + [len(values) for values in lists]).tolist()
        for k, b in enumerate(others):
            scaled = (flat * factors[np.array(sed.lists[p], dtype=np.int64), k]).tolist()
            df[f"{p}_amp_{b}"] = [scaled[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    fwhm = df["psf_fwhm_arcsec"].to_numpy(dtype=float)
    sky = df["sky_sigma"].to_numpy(dtype=float)
    gain = df["gain"].to_numpy(dtype=float)
    offsets = np.zeros((n, len(others)))
    scatter = np.broadcast_to(np.asarray(depth_scatter_mag, dtype=float), (n,))
    todo = scatter > 0
    if "host_file" in df:
        todo &= df["host_file"].to_numpy() == ""
    if todo.any():
        offsets[todo] = depth_offsets(df[todo], len(others), scatter[todo, None])
    for k, b in enumerate(others):
        spec = preset.band(b)
        df[f"psf_fwhm_arcsec_{b}"] = fwhm * (spec.psf_fwhm_arcsec / spec_det.psf_fwhm_arcsec) * fwhm_scatter[:, k]
        depth_difference = spec_det.depth_mag_5sigma - spec.depth_mag_5sigma + offsets[:, k]
        df[f"sky_sigma_{b}"] = sky * 10.0 ** (0.4 * depth_difference)
        # electrons per count: the sky's counts over the sky's variance, as the mock survey's tiles have them
        # (lensfinder.surveys.mock.sky.background_noise), so each band's objects get their own Poisson noise
        df[f"gain_{b}"] = gain * 10.0 ** (-0.4 * (spec.sky_mag_arcsec2 - spec_det.sky_mag_arcsec2)
                                          - 0.8 * depth_difference)
        df[f"image_seed_{b}"] = seeds[:, k]
        if "host_file" in df:
            df[f"host_band_{b}"] = np.where(df["host_file"].to_numpy() != "", b, "")
        if "psf_tile_file" in df:  # the band's tile and its ePSF's hash, checked on re-rendering
            from lensfinder.simulation.epsf import band_epsf_columns

            df[f"psf_tile_file_{b}"], df[f"psf_kernel_hash_{b}"] = band_epsf_columns(df, det, b)
    # semi-real rows: the host's own seeing and zero point in each band, and each band's own fill noise
    apply_host_bands(df, det, others, fill_stream=(COLOUR_STREAM, 4))
    return df


class _SEDs:
    """The SEDs drawn for a table: per SED its Dirichlet draw (``raw``: its gamma variates, not yet
    normalised), population (0 red, 1 blue) and redshift; per component the index of its SED (-1: none)."""

    def __init__(self, n, scalar, lists):
        self.draws, self.raw, self.population, self.z, self.row = [], [], [], [], []
        self.scalar = {p: [-1] * n for p in scalar}
        self.lists = {p: [] for p in lists}


def _draw_seds(df, amp_scalar, amp_lists, n_others):
    """The random part of :func:`add_band_columns`, row by row from each row's colour stream.

    Row ``i`` draws, in this order: its lens and source redshifts where the
    row has none, then for each component with light (scalar components with
    a finite non-zero amplitude in :data:`_SCALAR` order, then every element
    of the list components in :data:`_LISTS` order) the red-or-blue choice of
    ``random`` classes and the Dirichlet template weights (one SED for every
    part of the source), then the band FWHM scatter. The colours themselves
    are computed for all SEDs at once (:func:`_band_factors`).

    Returns
    -------
    sed : _SEDs
    fwhm_scatter : ndarray (n, n_others)
    seeds : ndarray (n, n_others) of uint64
        The bands' noise seeds, from each row's ``image_seed``.
    """
    n = len(df)
    sed = _SEDs(n, amp_scalar, amp_lists)
    draws, raw, population, redshift = sed.draws, sed.raw, sed.population, sed.z
    fwhm_scatter = np.empty((n, n_others))
    seeds = np.empty((n, n_others), dtype=np.uint64)
    z_d = df["z_d"].to_numpy(dtype=float) if "z_d" in df else np.full(n, np.nan)
    z_s = df["z_s"].to_numpy(dtype=float) if "z_s" in df else np.full(n, np.nan)
    image_seeds = df["image_seed"].to_numpy(dtype=np.uint64) if "image_seed" in df else np.zeros(n, np.uint64)
    finite = {p: (np.isfinite(amp) & (amp != 0)).tolist() for p, amp in amp_scalar.items()}
    # the drawers' own red/blue choices of list components (``{p}_blue``; rows without it: at random)
    blue_lists = {p: list(df[f"{p}_blue"]) for p in amp_lists if f"{p}_blue" in df}
    models = df["lens_light_model"].to_numpy() if "lens_light_model" in df else np.full(n, "", dtype=object)
    keys = zip(df["seed"].to_numpy(), df["shard"].to_numpy(), df["index"].to_numpy(), df["kind"].to_numpy())
    for i, (seed, shard, index, kind) in enumerate(keys):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(shard), int(index)],
                                                           spawn_key=(COLOUR_STREAM,)))
        zl = z_d[i] if np.isfinite(z_d[i]) else rng.uniform(*LENS_REDSHIFT)
        zs = z_s[i] if np.isfinite(z_s[i]) else rng.uniform(*SOURCE_REDSHIFT)
        alphas, source, gamma = {}, -1, rng.standard_gamma

        def colour(cls, blue=np.nan):
            """Index of the SED of a component of colour class ``cls`` (drawn now, or the source's); a
            ``random`` class with a finite ``blue`` (the drawer's choice) takes it, its coin still tossed."""
            nonlocal source
            if cls == "random":
                cls = "red" if rng.random() < 0.5 else "blue"
                if not np.isnan(blue):
                    cls = "blue" if blue else "red"
            if cls == "source" and source >= 0:
                return source
            pop = 1 if cls in ("blue", "source") else 0
            z = {"source": zs, "star": 0.0}.get(cls, zl)
            if (pop, z) not in alphas:
                alpha0, alpha1 = _ALPHAS[pop]
                alpha = alpha0 ** (1.0 - z) * alpha1 ** z
                alphas[pop, z] = alpha.tolist() if alpha.max() >= 0.1 else alpha
            alpha = alphas[pop, z]
            # Generator.dirichlet's gamma variates, one scalar call each (its normalisation: _band_factors);
            # its other method (all alphas < 0.1) is called as is
            draws.append([gamma(a) for a in alpha] if isinstance(alpha, list) else rng.dirichlet(alpha))
            raw.append(isinstance(alpha, list))
            population.append(pop)
            redshift.append(z)
            sed.row.append(i)
            if cls == "source":
                source = len(draws) - 1
            return len(draws) - 1

        classes = component_classes(str(kind), str(models[i]))
        for p in amp_scalar:
            if finite[p][i]:
                sed.scalar[p][i] = colour(classes[p])
        for p, lists in amp_lists.items():
            fixed = blue_lists[p][i] if p in blue_lists else None
            if isinstance(fixed, (list, np.ndarray)) and len(fixed) == len(lists[i]):
                sed.lists[p].extend(colour(classes[p], b) for b in fixed)
            else:
                sed.lists[p].extend(colour(classes[p]) for _ in lists[i])
        fwhm_scatter[i] = rng.uniform(0.92, 1.08, n_others)
        seeds[i] = np.random.SeedSequence([int(image_seeds[i])],
                                          spawn_key=(COLOUR_STREAM, 1)).generate_state(n_others, np.uint64)
    return sed, fwhm_scatter, seeds


def depth_offsets(df, n_others: int, scatter_mag) -> np.ndarray:
    """``(len(df), n_others)`` depth offsets (mag), uniform in +-``scatter_mag`` (a number, or one per
    row as ``(len(df), 1)``): row ``i`` of shard ``s``
    of set seed ``k`` takes them from ``SeedSequence([k, s, i], spawn_key=(COLOUR_STREAM, 2))``, a
    stream of its own (the colours and the detection band do not change with the scatter)."""
    out = np.empty((len(df), n_others))
    keys = zip(df["seed"].to_numpy(), df["shard"].to_numpy(), df["index"].to_numpy())
    for i, (seed, shard, index) in enumerate(keys):
        state = np.random.SeedSequence([int(seed), int(shard), int(index)],
                                       spawn_key=(COLOUR_STREAM, 2)).generate_state(n_others, np.uint64)
        out[i] = (state >> np.uint64(11)) * 2.0**-53  # 53-bit uniforms in [0, 1), as numpy's doubles
    return scatter_mag * (2.0 * out - 1.0)


def colour_offsets(df, sed_rows, n_others: int, sigma_mag) -> np.ndarray:
    """``(len(sed_rows), n_others)`` colour offsets (mag) of the SEDs of ``df``'s rows (``sed_rows``: the
    row of each SED, ascending), Gaussian of the row's ``sigma_mag``: row ``i`` of shard ``s`` of set
    seed ``k`` draws those of its SEDs, in order, from ``SeedSequence([k, s, i], spawn_key=(COLOUR_STREAM,
    3))``, a stream of its own (the rest of the colours do not change with the scatter)."""
    out = np.zeros((len(sed_rows), n_others))
    bounds = np.searchsorted(sed_rows, np.arange(len(df) + 1))
    keys = zip(df["seed"].to_numpy(), df["shard"].to_numpy(), df["index"].to_numpy(), sigma_mag)
    for i, (seed, shard, index, sigma) in enumerate(keys):
        lo, hi = bounds[i], bounds[i + 1]
        if sigma > 0 and hi > lo:
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(shard), int(index)],
                                                               spawn_key=(COLOUR_STREAM, 3)))
            out[lo:hi] = rng.normal(0.0, sigma, (hi - lo, n_others))
    return out


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
