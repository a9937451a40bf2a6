"""Simulation recipes: every parameter declared once, recipes as overrides, one validator.

:func:`recipe_params` turns a recipe name and ``--set`` overrides into a
read-only :class:`Recipe`; the named recipes are overrides of the declared
defaults in :mod:`lensfinder.simulation.recipe_table` (re-exported here);
the recipes and parameters are described in ``docs/simulation.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from lensfinder import constants
from lensfinder.io import InputError, nearest_hint
from lensfinder.surveys.presets.registry import PRESET_NAMES
from lensfinder.simulation.parameters import AXIS_RATIO, FRACTION, NON_NEGATIVE, POSITIVE, Param, param
from lensfinder.simulation.recipe_table import PAPER_RECIPES, RECIPES

__all__ = ["Recipe", "PARAMS", "RECIPES", "PAPER_RECIPES", "NEGATIVE_KINDS", "LENS_LIGHT_MODELS", "SOURCE_MODELS",
           "recipe_params", "layered_overrides"]

#: Shapes of the fully simulated negatives: He et al. 2020, Table 2, then the sky's confusers
#: (``lensfinder.simulation.confusers``, sources in ``docs/simulation.md``).
NEGATIVE_KINDS = ("elliptical", "elliptical_pair", "elongated", "bulge_disk", "satellites", "irregular", "spiral",
                  "grand_design", "ring", "passive_ring", "merger", "edge_on", "group", "star", "star_blend",
                  "near_miss")
#: Light models of lens galaxies (and of the central galaxies of negatives), and of lensed sources.
LENS_LIGHT_MODELS = ("sersic", "bulge_disk", "double_sersic")
SOURCE_MODELS = ("sersic", "knots", "irregular", "multiple", "quasar")

Range = tuple[float, float]
IntRange = tuple[int, int]
Paths = tuple[str, ...]


def _epsf_settings(value, where):
    from lensfinder.simulation.epsf import settings_with_defaults

    settings_with_defaults(value, where)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A validated, read-only recipe (from :func:`recipe_params`): parameters as attributes."""

    name: str
    draw_scheme: str = param("per_block", "random streams: per_block (vectorised, one generator per block of 256 "
                             "images) or per_image (one per image, the papers' recipes)",
                             choices=("per_block", "per_image"))
    # geometry and observation
    stamp_size: int = param(101, "stamp side, pixels", bounds="[1, inf)")
    pixel_scale_arcsec: float = param(constants.KIDS_COADD_PIXEL_SCALE_ARCSEC, "pixel scale, arcsec", bounds=POSITIVE)
    zeropoint_mag: float = param(constants.MOCK_ZEROPOINT_MAG, "photometric zero point of the counts, mag")
    psf_fwhm_arcsec: Range = param((0.55, 0.9), "PSF FWHM, arcsec (the mock survey's seeing range)", bounds=POSITIVE)
    psf_truncation_sigma: float = param(4.0, "Gaussian PSF kernel half-width, sigma", bounds=POSITIVE)
    psf_model: str = param("gaussian", "PSF model; gaussian: He et al. 2020, eq. 16; epsf: the host tile's, semi-real",
                           choices=("gaussian", "moffat", "epsf"))
    psf_moffat_beta: Range = param((2.8, 4.8), "Moffat beta (the mock survey's range; sky: 2.5-5)", bounds="(1, inf)")
    psf_moffat_radius_arcsec: float = param(5.0, "Moffat kernel half-width, arcsec", bounds=POSITIVE)
    psf_moffat_fraction: float = param(0.0, "psf_model=gaussian: fraction of the images with a Moffat PSF instead "
                                       "(beta psf_moffat_beta), drawn per image", bounds=FRACTION)
    light_supersampling: int = param(8, "sub-pixels per axis at unlensed galaxy centres", bounds="[1, inf)")
    light_supersampling_radius_pix: int = param(2, "half-width of the supersampled patch, pixels",
                                                bounds=NON_NEGATIVE)
    light_supersampling_levels: int = param(3, "nested refinements of the sub-pixel that holds each unlensed "
                                            "galaxy's centre (its Sersic cusp)", bounds=NON_NEGATIVE)
    cube_dtype: str = param("float32", "data type of the image cube", choices=("float32", "int16"))
    # bands (lensfinder.simulation.colours): empty renders the detection band alone, a 3-D cube
    preset: str = param("kids", "survey preset of the bands' filter curves, seeing and depth",
                        choices=PRESET_NAMES)
    bands: tuple = param((), "bands to render, the preset's detection band among them; [] the detection "
                         "band alone (the papers)", kind="names")
    band_depth_scatter_mag: float = param(0.0, "each other band's depth against the detection band's: uniform "
                                          "scatter of this half-width, mag, per image (tile-to-tile depths)",
                                          bounds=NON_NEGATIVE)
    colour_scatter_mag: float = param(0.0, "each light component's colours (every other band against the "
                                      "detection band): Gaussian scatter of this sigma, mag, on its template's",
                                      bounds=NON_NEGATIVE)
    # classes
    lens_fraction: float = param(0.5, "fraction of lenses, exact, in index order", bounds=FRACTION)
    negative_mix: Mapping[str, float] = param(
        MappingProxyType({"elliptical": 0.4, "elliptical_pair": 0.4, "elongated": 0.1, "bulge_disk": 0.1}),
        "relative weights of the negative kinds", kind="weights", choices=NEGATIVE_KINDS)
    # lens mass
    lens_model: str = param("uniform", "lens population", choices=("uniform", "he2020"))
    theta_E_arcsec: Range = param((1.0, 3.0), "Einstein radius, arcsec", bounds=POSITIVE)
    lens_q: Range = param((0.7, 1.0), "axis ratio of the lens mass and light", bounds=AXIS_RATIO)
    lens_center_offset_arcsec: float = param(0.1, "largest lens offset from the stamp centre, arcsec",
                                             bounds=NON_NEGATIVE)
    shear_gamma: Range = param((0.0, 0.05), "external shear strength", bounds=NON_NEGATIVE)
    subhaloes: bool = param(False, "SIS subhaloes of He et al. 2020, eq. 12; lens_model=he2020")
    # lens light
    lens_mag: Range = param((17.0, 20.0), "lens magnitude, lens_model=uniform")
    lens_light_R_sersic_arcsec: Range = param((0.5, 2.5), "lens light effective radius, arcsec", bounds=POSITIVE)
    lens_light_n_sersic: Range = param((2.0, 5.0), "lens light Sersic index", bounds=POSITIVE)
    sersic_n_distribution: str = param("uniform", "Sersic index draw of lens and source",
                                       choices=("uniform", "huertas_company"))
    lens_light_mix: Mapping[str, float] = param(MappingProxyType({"sersic": 1.0}),
                                                "light models of lenses and central galaxies; per_block",
                                                kind="weights", choices=LENS_LIGHT_MODELS)
    second_light_fraction: Range = param((0.2, 0.6), "flux fraction of the second light component",
                                         bounds=FRACTION)
    second_light_R_factor: Range = param((1.5, 3.0), "second component's R_sersic / the first's", bounds=POSITIVE)
    envelope_n_sersic: Range = param((1.0, 2.5), "Sersic index of the double_sersic envelope", bounds=POSITIVE)
    lens_satellite_fraction: float = param(0.0, "fraction of lenses with satellites (as the satellites kind)",
                                           bounds=FRACTION)
    field_galaxies: IntRange = param((0, 0), "faint field galaxies in every stamp", kind="int_range",
                                     bounds=NON_NEGATIVE)
    field_mag: Range = param((22.0, 25.0), "field galaxy magnitude")
    field_R_sersic_arcsec: Range = param((0.1, 0.6), "field galaxy effective radius, arcsec", bounds=POSITIVE)
    field_blue_fraction: float = param(0.7, "fraction of the field galaxies that are blue (the others red)",
                                       bounds=FRACTION)
    field_min_distance_arcsec: float = param(0.0, "field galaxies at least this far from the stamp centre, arcsec",
                                             bounds=NON_NEGATIVE)
    field_knot_fraction: float = param(
        0.0, "fraction of the blue field galaxies drawn as clumpy irregulars, irregular_knot_fraction of their light "
        "in confuser_knots knots (GalSim RandomKnots), as the irregular negatives and the mock survey's irregulars",
        bounds=FRACTION)
    # source
    source_mag_model: str = param("uniform", "source magnitude draw", choices=("uniform", "benitez"))
    source_mag: Range = param((20.5, 23.5), "source magnitude")
    source_R_sersic_arcsec: Range = param((0.2, 0.7), "source effective radius, arcsec", bounds=POSITIVE)
    source_n_sersic: Range = param((1.0, 4.0), "source Sersic index", bounds=POSITIVE)
    source_q: Range = param((0.5, 1.0), "source axis ratio", bounds=AXIS_RATIO)
    source_position: str = param("disk", "source placement", choices=("disk", "caustic"))
    source_offset_theta_E: float = param(0.5, "disk placement radius, theta_E", bounds=FRACTION)
    source_min_counter_magnification: float = param(
        0.0, "lenses only where the source centre has a second image magnified at least this much (|mu|, the lens "
        "equation of the SIE + shear): its position redrawn, up to 50 times; 0: every source", bounds=NON_NEGATIVE)
    source_counter_image_share: float = param(
        1.0, "the share of lenses that source_min_counter_magnification applies to, drawn per lens; the rest keep "
        "their first source position", bounds=FRACTION)
    near_miss_offset_theta_E: Range = param(
        (1.1, 2.0), "negative kind near_miss: a lens system whose source lies this far from the lens centre, "
        "theta_E, uniform over the annulus's area (outside the multiply imaged region: one image)", bounds="[1, inf)")
    source_offset_weighting: str = param(
        "area", "disk placement: area - uniform over the disk; magnification - uniform in radius, the odds of an "
        "SIS-lensed source (magnification 2 theta_E / beta) in counts N(>S) ~ S^-1 (magnification bias, Turner, "
        "Ostriker & Gott 1984)", choices=("area", "magnification"))
    source_mix: Mapping[str, float] = param(MappingProxyType({"sersic": 1.0}), "lensed source models; per_block",
                                            kind="weights", choices=SOURCE_MODELS)
    source_knots: IntRange = param((10, 40), "knots of a knots/irregular source", kind="int_range",
                                   bounds=NON_NEGATIVE)
    knot_flux_fraction: Range = param((0.2, 0.6), "flux fraction in knots; knots source", bounds=FRACTION)
    irregular_knot_fraction: Range = param((0.6, 0.95), "flux fraction in knots; irregular source and confuser",
                                           bounds=FRACTION)
    knot_sigma_arcsec: Range = param((0.05, 0.1), "Gaussian sigma of a lensed knot, arcsec", bounds=POSITIVE)
    multiple_sources: IntRange = param((2, 3), "sources of a multiple source", kind="int_range",
                                       bounds="[1, inf)")
    quasar_host_fraction: Range = param((0.2, 0.6), "host galaxy flux / quasar flux", bounds=NON_NEGATIVE)
    source_brightness: str = param("mag", "source brightness: from source_mag, or scaled to an arc S/N",
                                   choices=("mag", "arc_snr"))
    arc_snr: Range = param((8.0, 1500.0), "integrated arc S/N, log-uniform; source_brightness=arc_snr",
                           bounds=POSITIVE)
    # negatives (He et al. 2020, Table 2 shapes)
    negative_mag_model: str = param("uniform", "central galaxy magnitude of negatives",
                                    choices=("uniform", "lens_population"))
    elliptical_q: Range = param((0.7, 1.0), "elliptical axis ratio", bounds=AXIS_RATIO)
    elliptical_R_sersic_arcsec: Range = param((0.5, 2.5), "elliptical effective radius, arcsec", bounds=POSITIVE)
    elliptical_n_sersic: Range = param((2.0, 5.0), "elliptical Sersic index", bounds=POSITIVE)
    companion_mag_offset: Range = param((0.0, 2.0), "pair companion: magnitudes fainter", bounds=NON_NEGATIVE)
    companion_R_sersic_arcsec: Range = param((0.2, 1.5), "pair companion effective radius, arcsec",
                                             bounds=POSITIVE)
    companion_min_distance_arcsec: float = param(1.5, "pair companion: least distance, arcsec",
                                                 bounds=NON_NEGATIVE)
    elongated_q: Range = param((0.4, 0.5), "elongated galaxy axis ratio", bounds=AXIS_RATIO)
    elongated_R_sersic_arcsec: Range = param((0.2, 1.7), "elongated galaxy effective radius, arcsec",
                                             bounds=POSITIVE)
    elongated_n_sersic: Range = param((2.0, 5.0), "elongated galaxy Sersic index", bounds=POSITIVE)
    bulge_q: Range = param((0.95, 1.0), "bulge axis ratio", bounds=AXIS_RATIO)
    bulge_n_sersic: Range = param((1.5, 5.0), "bulge Sersic index", bounds=POSITIVE)
    disk_q: Range = param((0.4, 1.0), "disk axis ratio", bounds=AXIS_RATIO)
    disk_n_sersic: Range = param((0.9, 1.1), "disk Sersic index", bounds=POSITIVE)
    bulge_disk_R_sersic_arcsec: Range = param((0.2, 2.0), "bulge and disk effective radii, arcsec",
                                              bounds=POSITIVE)
    bulge_to_disk: Range = param((0.2, 3.0), "bulge to disk luminosity ratio", bounds=NON_NEGATIVE)
    # the sky's confusers (lensfinder.simulation.confusers)
    satellite_count: IntRange = param((1, 3), "satellites and companions of a central galaxy", kind="int_range",
                                      bounds="[1, inf)")
    satellite_distance_arcsec: Range = param((0.5, 5.0), "satellite distance from the centre, arcsec",
                                             bounds=NON_NEGATIVE)
    satellite_mag_offset: Range = param((1.0, 6.0), "satellite: magnitudes fainter than the central",
                                        bounds=NON_NEGATIVE)
    satellite_R_sersic_arcsec: Range = param((0.1, 1.0), "satellite effective radius, arcsec", bounds=POSITIVE)
    satellite_n_sersic: Range = param((0.5, 4.0), "satellite Sersic index", bounds=POSITIVE)
    satellite_blue_fraction: float = param(0.5, "fraction of blue (star-forming) satellites", bounds=FRACTION)
    satellite_knot_fraction: float = param(
        0.0, "fraction of the blue satellites with knots of star formation drawn as the lensed sources' "
        "(source_knots, knot_flux_fraction, knot_sigma_arcsec; GalSim RandomKnots), so that knots do not say lensed",
        bounds=FRACTION)
    irregular_R_arcsec: Range = param((0.5, 2.5), "irregular and spiral galaxy half-light radius, arcsec",
                                      bounds=POSITIVE)
    confuser_knots: IntRange = param((15, 60), "knots of an irregular galaxy, spiral arms or ring",
                                     kind="int_range", bounds="[1, inf)")
    confuser_knot_sigma_arcsec: Range = param((0.0, 0.15), "Gaussian sigma of a confuser's knots, arcsec",
                                              bounds=NON_NEGATIVE)
    grand_design_arms: IntRange = param((1, 4), "arms of a grand-design spiral (negative kind grand_design)",
                                        kind="int_range", bounds="[1, inf)")
    ring_R_arcsec: Range = param((1.0, 3.5), "ring radius, arcsec", bounds=POSITIVE)
    merger_separation_arcsec: Range = param((0.8, 3.0), "merger: separation of the two galaxies, arcsec",
                                            bounds=POSITIVE)
    tail_flux_fraction: Range = param((0.05, 0.25), "merger: flux fraction in the tidal tail", bounds=FRACTION)
    edge_on_q: Range = param((0.1, 0.25), "edge-on disk axis ratio", bounds=AXIS_RATIO)
    group_members: IntRange = param((2, 4), "other members of a small group", kind="int_range", bounds="[1, inf)")
    group_radius_arcsec: Range = param((2.0, 7.0), "group members' distance from the centre, arcsec",
                                       bounds=POSITIVE)
    star_mag: Range = param((16.0, 22.0), "star magnitude (star, star_blend)")
    star_distance_arcsec: Range = param((0.5, 4.0), "star_blend: star distance from the galaxy, arcsec",
                                        bounds=NON_NEGATIVE)
    # noise
    noise_model: str = param("depth", "sky noise level", choices=("depth", "snr_he2020"))
    depth_mag_5sigma: Range = param((24.8, 25.2), "5-sigma point-source depth, mag; noise_model=depth")
    snr_scatter: Range = param((0.9, 1.1), "factor on the S/N of eq. 17, noise_model=snr_he2020",
                               bounds=NON_NEGATIVE)
    gain: float = param(30.0, "effective gain of the detection band, e-/count (the mock survey's); the other "
                              "bands' follow from the preset's sky and depths", bounds=POSITIVE)
    # he2020 physics (lens_model=he2020)
    cosmo_h: float = param(0.7, "Hubble parameter h", bounds=POSITIVE)
    cosmo_Om0: float = param(0.3, "Omega_m", bounds=POSITIVE)
    cosmo_Ob0: float = param(0.049, "Omega_b", bounds=NON_NEGATIVE)
    cosmo_sigma8: float = param(0.81, "sigma_8", bounds=POSITIVE)
    cosmo_ns: float = param(0.96, "n_s", bounds=POSITIVE)
    halo_mass_range_msun: Range = param((1e11, 1e16), "halo masses M200, Msun", bounds=POSITIVE)
    redshift_weighting: str = param("volume", "lens redshift weights, eq. 11", choices=("volume", "none"))
    lens_light_log10_Re_over_theta_E: Range = param((0.2, 0.1), "log10(R_e / theta_E): [mean, sigma]",
                                                     kind="normal")
    subhalo_mass_fraction: Range = param((0.01, 0.05), "subhalo masses, fractions of M200", bounds="(0, 1)")
    subhalo_mass_floor_msun: float = param(1e9, "least subhalo mass, Msun", bounds=POSITIVE)
    subhalo_n_bins: int = param(10, "logarithmic subhalo mass bins", bounds="[1, inf)")
    # semi-real images: arcs on survey stamps (lensfinder.simulation.semireal)
    semi_real: bool = param(False, "paint arcs on host stamps")
    host_stamps: Paths = param((), "host stamp cubes (*.fits beside their .parquet index) or directories",
                               kind="paths")
    host_flag: str = param("lrg_li2020", "index column of the hosts of arcs, empty: all rows")
    negative_flag: str = param("", "index column of the negatives, empty: all rows")
    host_exclude: Paths = param((), "tables (Parquet) of stamps never used as hosts or negatives: rows with is_lens "
                                "true (every row without that column), by ID or object_id; the mock survey's truth, "
                                "known lenses", kind="paths")
    theta_E_distribution: str = param("uniform", "theta_E draw, lens_model=uniform",
                                      choices=("uniform", "log_uniform"))
    arc_peak_ratio: Range = param((0.1, 0.5), "arc peak / host peak, central 5x5 pixels", bounds=POSITIVE)
    source_clumps: IntRange = param((0, 4), "Sersic clumps of the source", kind="int_range", bounds=NON_NEGATIVE)
    clump_R_sersic_arcsec: Range = param((0.05, 0.15), "clump effective radius, arcsec", bounds=POSITIVE)
    clump_flux_fraction: Range = param((0.05, 0.2), "each clump's flux / the source's", bounds=POSITIVE)
    grf_deflection_rms_arcsec: Range = param((0.0, 0.05), "rms deflection of the potential perturbation, arcsec",
                                             bounds=NON_NEGATIVE)
    grf_slope: float = param(6.0, "power-spectrum slope of the potential perturbation", bounds=POSITIVE)
    arc_brightness: str = param("peak_ratio", "semi-real arc scaling: peak as Li et al. 2020, flux as He et al. "
                                "2020, or an arc S/N (arc_snr)", choices=("peak_ratio", "flux_ratio", "arc_snr"))
    arc_flux_ratio: Range = param((0.02, 0.12), "arc flux / host flux", bounds=POSITIVE)
    host_flux_radius_arcsec: float = param(3.0, "aperture of the host flux, arcsec", bounds=POSITIVE)
    aug_rot90_flip: bool = param(True, "first augmentation: k x 90 deg turn and flip of the host")
    aug_rotation_deg: Range = param((0.0, 0.0), "second augmentation: rotation, deg")
    aug_shift_pix: IntRange = param((0, 0), "second augmentation: shift per axis, pixels", kind="int_range")
    aug_crop_pix: IntRange = param((0, 0), "second augmentation: crop per edge, pixels", kind="int_range",
                                   bounds=NON_NEGATIVE)
    aug_flux_scale: Range = param((1.0, 1.0), "second augmentation: flux factor", bounds=POSITIVE)
    aug_interpolation_order: int = param(3, "spline order of the rotation", bounds="[0, 5]")
    disk_fraction: float = param(0.0, "fraction of negatives that are disk galaxies", bounds=FRACTION)
    disk_stamps: Paths = param((), "stamp cubes of disk galaxies, or directories", kind="paths")
    disk_flag: str = param("", "bool index column of the host stamps marking disks")
    host_holdout: float = param(0.0, "fraction of the host stamps held out for test sets (0: no split)",
                                bounds=FRACTION)
    host_split: str = param("all", "hosts this set draws from: all, or the train or test side of host_holdout",
                            choices=("all", "train", "test"))
    host_split_by: str = param("object", "unit of the host split: object (object_id) or tile",
                               choices=("object", "tile"))
    # tile ePSF of semi-real arcs (psf_model=epsf, lensfinder.simulation.epsf)
    psf_tiles: Paths = param((), "tile images {tile}.fits of the hosts' tiles, or directories", kind="paths",
                             aliases=("psf_tile_dir",))
    psf_catalogs: Paths = param((), "catalogues {tile}.parquet of the hosts' tiles, or directories",
                                kind="paths", aliases=("psf_catalog_dir",))
    epsf_settings: Mapping[str, Any] = param(MappingProxyType({}), "overrides of epsf.EPSF_DEFAULTS",
                                             kind="settings", check=_epsf_settings)

    def replace(self, **changes) -> Recipe:
        """A copy with ``changes`` (not validated again)."""
        return dataclasses.replace(self, **changes)


#: parameter name -> declaration
PARAMS: Mapping[str, Param] = MappingProxyType(
    {f.name: f.metadata["param"] for f in dataclasses.fields(Recipe) if "param" in f.metadata})
_ALIASES = MappingProxyType({alias: name for name, p in PARAMS.items() for alias in p.aliases})

def recipe_params(recipe: str, overrides: Mapping | None = None, source: str = "--set") -> Recipe:
    """The recipe ``recipe`` with ``overrides`` applied, validated against the declarations.

    Parameters
    ----------
    recipe : str
        A key of :data:`RECIPES`.
    overrides : mapping, optional
        Parameter name (or a former name, see :attr:`Param.aliases`) -> value.
    source : str
        Where the overrides come from, named in error messages.

    Raises
    ------
    InputError
        Unknown recipe or key, wrong type, a value out of bounds or an
        impossible combination, naming the key.
    """
    if recipe not in RECIPES:
        raise InputError(f"{source}: recipe: expected one of {', '.join(RECIPES)}, got {recipe!r}")
    values = {name: p.default for name, p in PARAMS.items()} | dict(RECIPES[recipe])
    given = set()
    for key, value in (overrides or {}).items():
        name = _ALIASES.get(key, key)
        if name not in PARAMS:
            raise InputError(f"{source}: {key}: unknown parameter of recipe {recipe!r}{nearest_hint(key, PARAMS)}; "
                             f"known: {', '.join(sorted(PARAMS))}")
        if name in given:
            raise InputError(f"{source}: {key}: given twice, also as {name!r} or one of its former names")
        given.add(name)
        values[name] = value
    result = Recipe(name=recipe, **{name: p.checked(name, values[name], source) for name, p in PARAMS.items()})
    _check_together(result, source)
    return result


def layered_overrides(base: Mapping | None, top: Mapping | None) -> dict:
    """``base`` with ``top`` laid over it: a key of ``top`` replaces the same parameter in ``base``
    under any of its names (a former name in one, the current name in the other)."""
    top = dict(top or {})
    replaced = {_ALIASES.get(key, key) for key in top}
    return {**{k: v for k, v in (base or {}).items() if _ALIASES.get(k, k) not in replaced}, **top}


#: Settings only the per-image draws have (the papers' populations and semi-real hosts).
_PER_IMAGE_ONLY = (("semi_real", True), ("lens_model", "he2020"), ("source_position", "caustic"),
                   ("source_mag_model", "benitez"), ("sersic_n_distribution", "huertas_company"),
                   ("negative_mag_model", "lens_population"))
#: Settings only the per-block draws have, and their "off" values.
_PER_BLOCK_ONLY = (("lens_light_mix", {"sersic": 1.0}), ("source_mix", {"sersic": 1.0}),
                   ("lens_satellite_fraction", 0.0), ("field_galaxies", (0, 0)), ("psf_moffat_fraction", 0.0))


def _check_together(r: Recipe, source: str) -> None:
    """The rules that tie parameters together."""
    for key, value in _PER_IMAGE_ONLY:
        if r.draw_scheme == "per_block" and getattr(r, key) == value:
            raise InputError(f"{source}: draw_scheme: per_block does not draw {key}={value!r} (the papers' "
                             f"populations and hosts); set draw_scheme=per_image")
    for key, off in _PER_BLOCK_ONLY:
        value = getattr(r, key)
        if r.draw_scheme == "per_image" and (dict(value) if key.endswith("mix") else value) != off:
            raise InputError(f"{source}: {key}: drawn by draw_scheme=per_block only (recipe {r.name!r} draws "
                             f"per image); leave it at {off!r} or set draw_scheme=per_block")
    if r.bands:
        from lensfinder.surveys.presets import get_preset

        preset = get_preset(r.preset)
        preset.check_bands(r.bands, f"{source}: bands")
        if preset.detection_band not in r.bands:
            raise InputError(f"{source}: bands: {list(r.bands)}: the detection band {preset.detection_band} of "
                             f"preset {r.preset} must be among them (the amplitudes are drawn in it)")
    if 2 * r.aug_crop_pix[1] >= r.stamp_size:
        raise InputError(f"{source}: aug_crop_pix: crops must leave part of the {r.stamp_size}-pixel stamp, "
                         f"got {list(r.aug_crop_pix)}")
    if r.semi_real and not r.host_stamps:
        raise InputError(f"{source}: host_stamps: a semi-real recipe needs stamp cubes (e.g. "
                         f"--set host_stamps=[DIR] with the stamps stage's cubes), got []")
    if r.semi_real and r.disk_fraction > 0 and r.lens_fraction < 1 and not (r.disk_stamps or r.disk_flag):
        raise InputError(f"{source}: disk_stamps/disk_flag: disk_fraction={r.disk_fraction} needs disk galaxies: "
                         f"give --set disk_stamps=[DIR] (stamp cubes of disks) or --set disk_flag=COLUMN "
                         f"(a bool column of the host index), or --set disk_fraction=0")
    half_width = (r.stamp_size - 1) / 2 * r.pixel_scale_arcsec
    if r.companion_min_distance_arcsec >= half_width - 1.0 and r.negative_mix.get("elliptical_pair", 0) > 0:
        raise InputError(f"{source}: companion_min_distance_arcsec: must be below the stamp half-width minus 1\" "
                         f"({half_width - 1.0:.2f}\"), got {r.companion_min_distance_arcsec!r}")
    if r.field_min_distance_arcsec > 0 and r.field_min_distance_arcsec >= half_width - 0.5:
        raise InputError(f"{source}: field_min_distance_arcsec: {r.field_min_distance_arcsec}: expected less than "
                         f"the stamp's half side less 0.5\" ({half_width - 0.5:.2f}\")")
    for key, what in (("psf_tiles", "image {tile}.fits"), ("psf_catalogs", "catalogue {tile}.parquet")):
        if r.semi_real and r.psf_model == "epsf" and not getattr(r, key):
            raise InputError(f"{source}: {key}: psf_model=epsf builds the ePSF of each host's tile from the tile's "
                             f"{what}: give these files or their directory (--{key.replace('_', '-')} FILE..., "
                             f"or --set {key}=[DIR]), or --set psf_model=gaussian; got []")
