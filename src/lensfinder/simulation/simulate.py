"""Simulated training and test sets: recipes, shards and exact re-rendering.

A *recipe* is a dictionary of documented parameters (:data:`RECIPES`);
``--set key=value`` overrides any of them. :func:`simulate_shard` draws
``n`` images, each from its own generator
``numpy.random.default_rng(SeedSequence([seed, shard, index]))``, renders
them in batches and returns the image cube and a metadata table holding
every parameter that made each image, so :func:`render_from_metadata`
re-creates any image from its row alone (noise from ``image_seed``).

Recipes
-------
``skeleton``
    Quick KiDS-like set for the default pipeline: SIE + external shear
    lens with uniform parameter ranges, Sersic lens light and source, the
    Table 2 (He et al. 2020) negative mix, Gaussian PSF with the mock
    survey's seeing range, sky noise for a 5-sigma depth near 25 mag.
    0.2"/px, 101x101, zero point ``constants.MOCK_ZEROPOINT_MAG``.
``he2020``
    He et al. (2020), section 3: halo population from eq. 11 (Reed et al.
    2007 mass function, Table A1 redshift pairs), theta_E from eq. 10 and
    13, SIS subhaloes (eq. 12), Faber-Jackson lens light, Benitez (2000)
    source magnitudes, sources within one effective radius of the caustic,
    Table 2 negatives, noise from eq. 17. 0.21"/px, 97x97, FWHM
    U(0.55", 0.75"). See :mod:`lensfinder.simulation.populations` for the physics
    choices the paper leaves open.
``li2020``
    Semi-real (Li et al. 2020, section 2.2): arcs (SIE + shear, theta_E
    log-uniform in [1", 5"], a Gaussian-random-field potential perturbation,
    a Sersic source with 0-4 Sersic clumps) painted onto real stamps from the
    stamps stage (``--set host_stamps=[results/stamps]``), convolved with the
    host's seeing and scaled to ``arc_peak_ratio`` x the host's central peak;
    negatives are the stamps themselves. Hosts are rotated by k x 90 deg and
    flipped; the whole image is then shifted by U{-4..4} px per axis and its
    flux rescaled by U(0.9, 1.1) (Li et al.: "rotation, shifting, flipping,
    and rescale"). Stamp size, pixel scale and zero point come from the hosts.
    :func:`render_from_metadata` then also needs the host cube
    (``host_file``, ``host_row``). See :mod:`lensfinder.simulation.semireal`.
``he2020_semireal``
    Semi-real (He et al. 2020, section 4.2): arcs from the ``he2020`` lens
    physics (Table 1 ranges, eq. 10-13 population, eq. 12 SIS subhaloes,
    source within one R_e of the caustic, no shear) painted onto host LRG
    stamps (``host_flag``), with total arc flux / host flux
    ``arc_flux_ratio`` ~ U(0.02, 0.12); the arc is convolved with the host
    tile's photutils ePSF (``psf_model=epsf``, :mod:`lensfinder.simulation.epsf`; the
    tile's seeing when it has too few stars; ``psf_model=gaussian`` takes the
    host's seeing from the stamp index instead) and gets its own Poisson
    noise (the host stamp carries the sky noise). Negatives: host stamps
    (``negative_flag``), a fraction ``disk_fraction`` = 0.02 of them disk
    galaxies (``disk_stamps`` cubes, or rows of the host index with the bool
    column ``disk_flag``; disks are then left out of the LRG draws). Every
    image, positive or negative, is rotated by U(0, 360) deg and loses
    U{0..5} px at each edge, refilled with noise of its own sky level
    (:func:`lensfinder.simulation.semireal.augment_image`). The ePSF needs
    ``{psf_tile_dir}/{tile}.fits`` and ``{psf_catalog_dir}/{tile}.parquet``
    for the index's ``tile`` (default: the workflow's ``results/survey``).

Metadata (one row per image)
----------------------------
``object_id, is_lens, kind`` (lens, elliptical, elliptical_pair, elongated,
bulge_disk; host for semi-real negatives), ``recipe, seed, shard, index,
image_seed`` (uint64, the noise generator's seed); lens mass ``theta_E, e1,
e2, center_x, center_y, gamma1, gamma2`` (arcsec, lenstronomy's SIE and
SHEAR), ``lens_q, lens_phi_deg``; he2020 physics ``z_d, z_s, m200_msun,
sigma_km_s`` and subhalo lists ``subhalo_theta_E, subhalo_center_x,
subhalo_center_y, subhalo_mass_msun`` (``n_subhalo``); Sersic components
``{lens_light,source,companion,disk}_{amp,R_sersic,n_sersic,e1,e2,center_x,center_y}``
(lenstronomy's SERSIC_ELLIPSE: ``amp`` in counts arcsec^-2 at ``R_sersic``;
NaN when absent; for bulge_disk the bulge is ``lens_light``); source clumps
``clump_{amp,R_sersic,n_sersic,center_x,center_y}`` lists (``n_clump``);
``mag_lens, mag_source, mag_companion, bulge_to_disk``; semi-real
``host_file, host_row, host_object_id`` (``kind`` host or host_disk for
negatives), first-stage augmentation ``aug_rot90`` (k, counter-clockwise
quarter turns), ``aug_flip``; second stage (whole image, in this order)
``aug_rotation_deg`` (counter-clockwise, x = column, y = row),
``aug_shift_x_pix, aug_shift_y_pix`` (whole pixels),
``aug_crop_{left,right,bottom,top}`` (pixels refilled with noise),
``aug_flux_scale``, ``aug_seed`` (uint64, fill noise),
``aug_interpolation_order``; arcs ``grf_seed, grf_deflection_rms_arcsec``,
``arc_peak_ratio`` (li2020; NaN otherwise), ``arc_flux_ratio`` (arc counts /
``host_flux``; he2020_semireal), ``host_flux`` (counts of the host stamp
within ``host_flux_radius_arcsec``); ePSF (``psf_model`` = epsf)
``psf_tile_file, psf_catalog_file, epsf_settings`` (JSON of
:data:`lensfinder.simulation.epsf.EPSF_DEFAULTS` as used), ``epsf_n_stars`` (0: seeing
fallback; -1: no ePSF) and ``psf_kernel_hash`` (checked on re-rendering);
observation ``stamp_size,
pixel_scale_arcsec, zeropoint_mag, psf_fwhm_arcsec, psf_truncation_sigma,
light_supersampling, light_supersampling_radius_pix, sky_sigma`` (counts),
``gain`` (e-/count), ``snr``, ``noiseless``.

Choices the papers leave open (defaults; all are parameters)
------------------------------------------------------------
- Cosmology ``h = 0.7, Omega_m = 0.3``, ``sigma_8 = 0.81``, ``n_s = 0.96``;
  FoF mass of Reed et al. taken as M200; halo masses 1e11-1e16 Msun; theta_E
  range enforced by truncation (``population`` docstring for the rest:
  subhalo sigma-mass from eq. 13, projected uniform within R200, Benitez
  p(m|z)).
- Lens redshifts weighted by halo numbers (``redshift_weighting='volume'``);
  ``'none'`` is the literal reading of eq. 11.
- Source position angle uniform in [0, 180) deg; source q as Table 1.
- Negative central galaxies take their magnitude from the lens population
  (he2020: a lens is drawn and its Faber-Jackson magnitude used), so
  brightness does not separate the classes; a pair's second galaxy is
  ``companion_mag_offset`` = U(0, 2) mag fainter, at least
  ``companion_min_distance_arcsec`` = 1.5" from the centre, anywhere in the
  stamp 1" from the edges.
- Bulge/disk: ``bulge_to_disk`` = L_bulge / L_disk ~ U(0.2, 3); the two
  position angles are independent and uniform.
- S/N (eq. 17) is the foreground galaxy's in an elliptical aperture of
  radius ``max(2 R_sersic, 1")``, computed analytically; one Gaussian sigma
  stands for sky + read-out noise, solved so that
  ``S/N = F / sqrt(F / gain + N sigma^2)``; the object's own Poisson noise
  uses ``gain`` = 30 e-/count (the mock survey's effective gain at zero
  point 30; it also keeps eq. 17 reachable for lenses brighter than r ~ 16.5).
- Poisson noise in the Gaussian approximation (as lenstronomy's
  ``add_poisson``).
- Pixels are sampled at their centres, except the central
  ``2 r + 1`` pixels around each unlensed galaxy centre, which are
  integrated with ``light_supersampling`` x ``light_supersampling`` sub-pixels
  (a Sersic n = 4 cusp otherwise puts more than the galaxy's flux into one
  pixel).
- PSF: Gaussian (He et al. 2020, eq. 16) by default; ``psf_model='moffat'``
  draws beta from ``psf_moffat_beta`` (the mock survey's 2.8-4.8) with a
  kernel of half-width ``psf_moffat_radius_arcsec`` = 5" (FFT convolution).
- PSF FWHMs (and Moffat betas) are drawn on a 0.001 grid (uniform, then rounded), so that the
  convolution matrices of a shard can be cached.
- 16-bit cubes (``cube_dtype='int16'``) are scaled linearly between the
  cube's minimum and maximum (``lensfinder.io.write_cube``).
- Semi-real choices: see :mod:`lensfinder.simulation.semireal` (host selection,
  augmentation, crop refill, host flux aperture, potential perturbation)
  and :mod:`lensfinder.simulation.epsf` (star selection, fallback). In
  ``he2020_semireal`` the lens mass keeps Table 1's random q and angle (the
  host's light shape is not measured) and is centred on the stamp; the arc
  is painted on the host before the second augmentation stage, so both
  turn together and keep one PSF; clumps: n ~ U(0.5, 1.5), radius
  U(0.05", 0.15"), each 5-20% of the source flux, within 1.5 R_sersic of the
  source centre (Petrillo et al. 2019a values are not at hand).
"""

from __future__ import annotations

import copy
import functools
import logging
import math
from pathlib import Path

import numpy as np

from lensfinder import constants
from lensfinder.io import InputError
from lensfinder.simulation.lensing import (
    phi_q_to_e1e2,
    sersic_b_n,
    sersic_coefficients,
    sersic_total_flux,
    shear_deflection,
    sie_coefficients,
    sie_deflection_core,
    sis_deflection,
    tangential_caustic,
)
from lensfinder.simulation.optics import (
    add_noise,
    convolve_kernel,
    fwhm_to_sigma,
    gaussian_taps,
    moffat_psf_kernel,
    noise_arguments,
    mag_to_counts,
    pixel_grid,
    sky_sigma_for_depth,
    sky_sigma_for_snr,
    snr_he2020,
)

__all__ = [
    "RECIPES",
    "NEGATIVE_KINDS",
    "recipe_params",
    "draw_image_params",
    "render_images",
    "render_from_metadata",
    "simulate_shard",
    "add_simulate_arguments",
    "run_simulate",
]

log = logging.getLogger(__name__)

#: Light components drawn without lensing (lens galaxy, bulge+disk disk, pair companion).
UNLENSED_LIGHT = ("lens_light", "disk", "companion")
#: Lensed light component.
LENSED_LIGHT = ("source",)
SERSIC_KEYS = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
NEGATIVE_KINDS = ("elliptical", "elliptical_pair", "elongated", "bulge_disk")

_COMMON = {
    # geometry and observation
    "stamp_size": 101,
    "pixel_scale_arcsec": constants.KIDS_COADD_PIXEL_SCALE_ARCSEC,
    "zeropoint_mag": constants.MOCK_ZEROPOINT_MAG,
    "psf_fwhm_arcsec": [0.55, 0.9],  # the mock survey's seeing range
    "psf_truncation_sigma": 4.0,
    "psf_model": "gaussian",  # gaussian (He et al. 2020, eq. 16) | moffat (as the mock survey)
    "psf_moffat_beta": [2.8, 4.8],  # the mock survey's range
    "psf_moffat_radius_arcsec": 5.0,  # Moffat kernel half-width
    "light_supersampling": 8,
    "light_supersampling_radius_pix": 2,
    "cube_dtype": "float32",
    # classes
    "lens_fraction": 0.5,
    "negative_mix": {"elliptical": 0.4, "elliptical_pair": 0.4, "elongated": 0.1, "bulge_disk": 0.1},
    # lens mass
    "lens_model": "uniform",  # uniform | he2020
    "theta_E_arcsec": [1.0, 3.0],
    "lens_q": [0.7, 1.0],
    "lens_center_offset_arcsec": 0.1,
    "shear_gamma": [0.0, 0.05],
    "subhaloes": False,
    # lens light
    "lens_mag": [17.0, 20.0],
    "lens_light_R_sersic_arcsec": [0.5, 2.5],
    "lens_light_n_sersic": [2.0, 5.0],
    "sersic_n_distribution": "uniform",  # uniform | huertas_company
    # source
    "source_mag_model": "uniform",  # uniform | benitez
    "source_mag": [20.5, 23.5],
    "source_R_sersic_arcsec": [0.2, 0.7],
    "source_n_sersic": [1.0, 4.0],
    "source_q": [0.5, 1.0],
    "source_position": "disk",  # disk | caustic
    "source_offset_theta_E": 0.5,
    # negatives (He et al. 2020, Table 2 shapes; sizes of ellipticals as lens light here)
    "negative_mag_model": "uniform",  # uniform (lens_mag) | lens_population
    "elliptical_q": [0.7, 1.0],
    "elliptical_R_sersic_arcsec": [0.5, 2.5],
    "elliptical_n_sersic": [2.0, 5.0],
    "companion_mag_offset": [0.0, 2.0],
    "companion_R_sersic_arcsec": [0.2, 1.5],
    "companion_min_distance_arcsec": 1.5,
    "elongated_q": [0.4, 0.5],
    "elongated_R_sersic_arcsec": [0.2, 1.7],
    "elongated_n_sersic": [2.0, 5.0],
    "bulge_q": [0.95, 1.0],
    "bulge_n_sersic": [1.5, 5.0],
    "disk_q": [0.4, 1.0],
    "disk_n_sersic": [0.9, 1.1],
    "bulge_disk_R_sersic_arcsec": [0.2, 2.0],
    "bulge_to_disk": [0.2, 3.0],
    # noise
    "noise_model": "depth",  # depth | snr_he2020
    "depth_mag_5sigma": [24.8, 25.2],
    "snr_scatter": [0.9, 1.1],
    "gain": 30.0,  # e-/count: the mock survey's effective gain (sky 21 mag/arcsec^2, depth 25)
    # he2020 physics (used with lens_model=he2020)
    "cosmo_h": 0.7,
    "cosmo_Om0": 0.3,
    "cosmo_Ob0": 0.049,
    "cosmo_sigma8": 0.81,
    "cosmo_ns": 0.96,
    "halo_mass_range_msun": [1e11, 1e16],
    "redshift_weighting": "volume",
    "lens_light_log10_Re_over_theta_E": [0.2, 0.1],  # mean, sigma
    "subhalo_mass_fraction": [0.01, 0.05],
    "subhalo_mass_floor_msun": 1e9,
    "subhalo_n_bins": 10,
    # semi-real images (recipe li2020): arcs on real stamps, see lensfinder.simulation.semireal
    "semi_real": False,
    "host_stamps": [],  # stamp cubes (*.fits + .parquet index) or directories
    "host_flag": "lrg_li2020",
    "negative_flag": "",
    "theta_E_distribution": "uniform",  # uniform | log_uniform
    "arc_peak_ratio": [0.1, 0.5],  # arc peak / host peak (central 5x5 pixels)
    "source_clumps": [0, 4],  # number of Sersic clumps in the source
    "clump_R_sersic_arcsec": [0.05, 0.15],
    "clump_flux_fraction": [0.05, 0.2],  # each clump's flux / the main source's
    "grf_deflection_rms_arcsec": [0.0, 0.05],
    "grf_slope": 6.0,
    # semi-real arc brightness and augmentation (see lensfinder.simulation.semireal)
    "arc_brightness": "peak_ratio",  # peak_ratio (Li et al. 2020) | flux_ratio (He et al. 2020)
    "arc_flux_ratio": [0.02, 0.12],  # He et al. 2020, section 4.2: lensed-source / lens-galaxy flux
    "host_flux_radius_arcsec": 3.0,  # aperture of the host flux for arc_flux_ratio
    "aug_rot90_flip": True,  # first stage: k x 90 deg and a flip of the host
    "aug_rotation_deg": [0.0, 0.0],  # second stage (whole image): rotation, shift, crop, flux rescale
    "aug_shift_pix": [0, 0],  # whole pixels per axis
    "aug_crop_pix": [0, 0],  # pixels per edge, each edge drawn independently
    "aug_flux_scale": [1.0, 1.0],
    "aug_interpolation_order": 3,
    "disk_fraction": 0.0,  # negatives that are disk galaxies (He et al. 2020: 2,020 of 102,241)
    "disk_stamps": [],  # stamp cubes of disk galaxies (all usable rows), or
    "disk_flag": "",  # a bool column of the host_stamps index marking disks
    # PSF of semi-real arcs: psf_model=epsf builds a photutils ePSF per host tile (lensfinder.simulation.epsf)
    "psf_tile_dir": "results/survey/tiles",  # {dir}/{tile}.fits
    "psf_catalog_dir": "results/survey/catalog",  # {dir}/{tile}.parquet
    "epsf_settings": {},  # overrides of lensfinder.simulation.epsf.EPSF_DEFAULTS
}

#: recipe name -> default parameters
RECIPES: dict[str, dict] = {
    "li2020": {
        **copy.deepcopy(_COMMON),
        "semi_real": True,
        "aug_shift_pix": [-4, 4],  # Li et al. 2020: "rotation, shifting, flipping, and rescale"
        "aug_flux_scale": [0.9, 1.1],
        "theta_E_arcsec": [1.0, 5.0],  # Li et al. 2020, section 2.1: log-uniform in [1", 5"]
        "theta_E_distribution": "log_uniform",
        "lens_center_offset_arcsec": 0.0,
        "source_offset_theta_E": 0.5,
        "light_supersampling": 1,
    },
    "skeleton": copy.deepcopy(_COMMON),
    "he2020_semireal": {
        **copy.deepcopy(_COMMON),
        "semi_real": True,
        "lens_model": "he2020",  # Table 1 ranges and eq. 12 subhaloes, as the he2020 recipe
        "theta_E_arcsec": [1.4, 5.0],
        "lens_center_offset_arcsec": 0.0,
        "shear_gamma": [0.0, 0.0],
        "subhaloes": True,
        "source_mag_model": "benitez",  # only sets the source's shape draw order: the flux is rescaled
        "source_mag": [15.0, 25.0],
        "source_R_sersic_arcsec": [0.2, 0.7],
        "source_n_sersic": [2.0, 5.0],
        "source_q": [0.7, 1.0],
        "source_position": "caustic",
        "source_clumps": [0, 0],
        "grf_deflection_rms_arcsec": [0.0, 0.0],
        "light_supersampling": 1,
        "arc_brightness": "flux_ratio",
        "aug_rot90_flip": False,
        "aug_rotation_deg": [0.0, 360.0],  # He et al. 2020, section 4.2
        "aug_crop_pix": [0, 5],
        "disk_fraction": 0.02,  # 2,020 disks among 102,241 negatives
        "psf_model": "epsf",
    },
    "he2020": {
        **copy.deepcopy(_COMMON),
        "stamp_size": constants.HE2020_STAMP_SIZE,
        "pixel_scale_arcsec": constants.HE2020_PIXEL_SCALE_ARCSEC,
        "psf_fwhm_arcsec": [0.55, 0.75],  # He et al. 2020, section 3.4
        "lens_model": "he2020",
        "theta_E_arcsec": [1.4, 5.0],  # Table 1
        "lens_center_offset_arcsec": 0.0,
        "shear_gamma": [0.0, 0.0],  # no external shear (section 3.2)
        "subhaloes": True,
        "lens_light_n_sersic": [2.0, 5.0],
        "source_mag_model": "benitez",
        "source_mag": [15.0, 25.0],  # Table 1
        "source_R_sersic_arcsec": [0.2, 0.7],
        "source_n_sersic": [2.0, 5.0],
        "source_q": [0.7, 1.0],
        "source_position": "caustic",
        "negative_mag_model": "lens_population",
        "elliptical_R_sersic_arcsec": [0.2, 0.7],  # Table 2
        "companion_R_sersic_arcsec": [0.2, 0.7],
        "noise_model": "snr_he2020",
    },
}

_CHOICES = {
    "lens_model": ("uniform", "he2020"),
    "sersic_n_distribution": ("uniform", "huertas_company"),
    "source_mag_model": ("uniform", "benitez"),
    "source_position": ("disk", "caustic"),
    "negative_mag_model": ("uniform", "lens_population"),
    "noise_model": ("depth", "snr_he2020"),
    "redshift_weighting": ("volume", "none"),
    "cube_dtype": ("float32", "int16"),
    "theta_E_distribution": ("uniform", "log_uniform"),
    "psf_model": ("gaussian", "moffat", "epsf"),
    "arc_brightness": ("peak_ratio", "flux_ratio"),
}
_STRING_LISTS = ("host_stamps", "disk_stamps")
_INT_RANGES = ("source_clumps", "aug_crop_pix")
_SIGNED_INT_RANGES = ("aug_shift_pix",)
_POSITIVE_INT = ("stamp_size", "light_supersampling", "subhalo_n_bins")
_NONNEGATIVE_INT = ("light_supersampling_radius_pix",)
_FRACTIONS = ("lens_fraction", "source_offset_theta_E")


# --------------------------------------------------------------------------- parameters


def recipe_params(recipe: str, overrides: dict | None = None, source: str = "--set") -> dict:
    """Defaults of ``recipe`` with ``overrides`` applied and validated.

    A range parameter accepts ``[low, high]`` or one number (a fixed value).

    Raises
    ------
    InputError
        Unknown recipe or key, wrong type, impossible range (low > high, q
        outside (0, 1], non-positive size), naming the key.
    """
    if recipe not in RECIPES:
        raise InputError(f"{source}: recipe: expected one of {', '.join(RECIPES)}, got {recipe!r}")
    params = copy.deepcopy(RECIPES[recipe])
    for key, value in (overrides or {}).items():
        if key not in params:
            raise InputError(f"{source}: {key}: unknown parameter of recipe {recipe!r}; known: {', '.join(sorted(params))}")
        default = params[key]
        if key in _STRING_LISTS and isinstance(value, str):
            value = [value]
        elif isinstance(default, list) and not isinstance(value, (list, tuple)):
            value = [value, value]
        params[key] = copy.deepcopy(value)
    _validate(params, source)
    return params


def _validate(p: dict, source: str) -> None:
    def fail(key, what):
        raise InputError(f"{source}: {key}: {what}, got {p[key]!r}")

    for key, default in RECIPES["skeleton"].items():
        value = p[key]
        if key == "epsf_settings":
            from lensfinder.simulation.epsf import settings_with_defaults

            if not isinstance(value, dict):
                fail(key, "expected a mapping")
            settings_with_defaults(value, f"{source}: epsf_settings")
            continue
        if key == "aug_interpolation_order":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 5:
                fail(key, "expected a spline order 0-5")
            continue
        if key in _CHOICES:
            if value not in _CHOICES[key]:
                fail(key, f"expected one of {', '.join(_CHOICES[key])}")
        elif key == "negative_mix":
            if not isinstance(value, dict) or not value:
                fail(key, "expected a mapping kind -> weight")
            for kind, w in value.items():
                if kind not in NEGATIVE_KINDS:
                    fail(key, f"unknown kind {kind!r}; expected among {', '.join(NEGATIVE_KINDS)}")
                if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0 or not math.isfinite(w):
                    fail(key, f"weight of {kind} must be a number >= 0")
            if sum(value.values()) <= 0:
                fail(key, "weights must not all be zero")
        elif key in _STRING_LISTS:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                fail(key, "expected a list of paths")
            p[key] = list(value)
        elif isinstance(default, str):
            if not isinstance(value, str):
                fail(key, "expected a string")
        elif isinstance(default, list):
            if (not isinstance(value, (list, tuple)) or len(value) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
                fail(key, "expected [low, high] (two numbers) or one number")
            p[key] = [float(v) for v in value]
            lo, hi = p[key]
            if key == "lens_light_log10_Re_over_theta_E":
                if hi < 0:
                    fail(key, "expected [mean, sigma] with sigma >= 0")
                continue
            if lo > hi:
                fail(key, "lower bound larger than upper bound")
            if key.endswith("_q") and not (0 < lo and hi <= 1):
                fail(key, "axis ratios must lie in (0, 1]")
            if any(s in key for s in ("R_sersic", "psf_fwhm", "halo_mass", "n_sersic")) and lo <= 0:
                fail(key, "must be positive")
            if key in ("theta_E_arcsec",) and lo <= 0:
                fail(key, "must be positive")
            if key in _INT_RANGES:
                if lo < 0 or lo != int(lo) or hi != int(hi):
                    fail(key, "expected non-negative integers")
            if key in _SIGNED_INT_RANGES and (lo != int(lo) or hi != int(hi)):
                fail(key, "expected integers")
            if key == "aug_crop_pix" and 2 * hi >= p["stamp_size"]:
                fail(key, "crops must leave part of the stamp")
            if key in ("arc_flux_ratio", "aug_flux_scale") and lo <= 0:
                fail(key, "must be positive")
            if key == "psf_moffat_beta" and lo <= 1:
                fail(key, "Moffat beta must exceed 1")
            if key in ("clump_flux_fraction", "arc_peak_ratio") and lo <= 0:
                fail(key, "must be positive")
            if key in ("shear_gamma", "companion_mag_offset", "snr_scatter", "bulge_to_disk",
                       "grf_deflection_rms_arcsec") and lo < 0:
                fail(key, "must not be negative")
            if key == "subhalo_mass_fraction" and not (0 < lo and hi < 1):
                fail(key, "expected fractions of M200 in (0, 1)")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                fail(key, "expected true or false")
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool):
                fail(key, "expected an integer")
            if key in _POSITIVE_INT and value < 1:
                fail(key, "must be at least 1")
            if key in _NONNEGATIVE_INT and value < 0:
                fail(key, "must not be negative")
        elif isinstance(default, float):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                fail(key, "expected a number")
            p[key] = float(value)
            if key in _FRACTIONS and not 0 <= value <= 1:
                fail(key, "expected a fraction in [0, 1]")
            if key == "disk_fraction" and not 0 <= value <= 1:
                fail(key, "expected a fraction in [0, 1]")
            if key in ("pixel_scale_arcsec", "psf_truncation_sigma", "gain", "subhalo_mass_floor_msun", "grf_slope",
                       "host_flux_radius_arcsec",
                       "psf_moffat_radius_arcsec",
                       "cosmo_h", "cosmo_Om0", "cosmo_sigma8", "cosmo_ns") and value <= 0:
                fail(key, "must be positive")
            if key in ("lens_center_offset_arcsec", "companion_min_distance_arcsec", "cosmo_Ob0") and value < 0:
                fail(key, "must not be negative")
    if p["semi_real"] and not p["host_stamps"]:
        raise InputError(f"{source}: host_stamps: a semi-real recipe needs stamp cubes (e.g. "
                         f"--set host_stamps=[results/stamps]), got []")
    if p["semi_real"] and p["disk_fraction"] > 0 and p["lens_fraction"] < 1 and not (p["disk_stamps"] or p["disk_flag"]):
        raise InputError(f"{source}: disk_stamps/disk_flag: disk_fraction={p['disk_fraction']} needs disk galaxies: "
                         f"give --set disk_stamps=[DIR] (stamp cubes of disks) or --set disk_flag=COLUMN "
                         f"(a bool column of the host index), or --set disk_fraction=0")
    half_width = (p["stamp_size"] - 1) / 2 * p["pixel_scale_arcsec"]
    if p["companion_min_distance_arcsec"] >= half_width - 1.0 and p["negative_mix"].get("elliptical_pair", 0) > 0:
        raise InputError(f"{source}: companion_min_distance_arcsec: must be below the stamp half-width minus 1\" "
                         f"({half_width - 1.0:.2f}\"), got {p['companion_min_distance_arcsec']!r}")


# --------------------------------------------------------------------------- drawing


def _uniform(rng, lo_hi):
    lo, hi = lo_hi
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def _n_sersic(rng, p, key):
    if p["sersic_n_distribution"] == "huertas_company" and key in ("lens_light_n_sersic", "source_n_sersic"):
        from lensfinder.simulation.populations import huertas_company_n

        return huertas_company_n(rng, tuple(p[key]))
    return _uniform(rng, p[key])


def _ellipse(rng, q_range):
    """Random position angle (uniform in [0, 180) deg) and q; returns q, phi_rad, e1, e2."""
    q = _uniform(rng, q_range)
    phi = float(rng.uniform(0.0, np.pi))
    e1, e2 = phi_q_to_e1e2(phi, q)
    return q, phi, float(e1), float(e2)


def _sersic_component(prefix, counts, R, n, e1, e2, cx, cy):
    amp = counts / float(sersic_total_flux(1.0, R, n))
    return {f"{prefix}_amp": amp, f"{prefix}_R_sersic": R, f"{prefix}_n_sersic": n, f"{prefix}_e1": e1,
            f"{prefix}_e2": e2, f"{prefix}_center_x": cx, f"{prefix}_center_y": cy}


@functools.lru_cache(maxsize=8)
def _population(h, Om0, Ob0, sigma8, ns, theta_E_range, mass_range, redshift_weighting):
    from lensfinder.simulation.populations import Cosmology, LensPopulation

    cosmo = Cosmology(h=h, Om0=Om0, Ob0=Ob0, sigma8=sigma8, ns=ns)
    return LensPopulation(cosmo, theta_E_range_arcsec=theta_E_range, halo_mass_range_msun=mass_range,
                          redshift_weighting=redshift_weighting)


def _lens_population(p):
    try:
        return _population(p["cosmo_h"], p["cosmo_Om0"], p["cosmo_Ob0"], p["cosmo_sigma8"], p["cosmo_ns"],
                           tuple(p["theta_E_arcsec"]), tuple(p["halo_mass_range_msun"]), p["redshift_weighting"])
    except ValueError as exc:
        raise InputError(f"--set: theta_E_arcsec/halo_mass_range_msun: {exc}") from exc


def _physical_lens(rng, p):
    """z_d, z_s, M200, sigma, theta_E and r magnitude of a lens from He et al. 2020, eq. 10-15."""
    from lensfinder.simulation.populations import faber_jackson_abs_mag_r, k_correction_elliptical_r

    pop = _lens_population(p)
    lens = pop.draw(rng)
    cosmo = pop.cosmology
    lens["mag_lens"] = float(faber_jackson_abs_mag_r(lens["sigma_km_s"]) + cosmo.distance_modulus(lens["z_d"])
                             + k_correction_elliptical_r(lens["z_d"]))
    return lens


def _central_mag(rng, p):
    if p["negative_mag_model"] == "lens_population":
        return _physical_lens(rng, p)["mag_lens"]
    return _uniform(rng, p["lens_mag"])


def _deflection_fn(row):
    """Float64 deflection of a row's whole lens, for caustics."""
    sub_t = np.asarray(row.get("subhalo_theta_E", []), dtype=float)
    sub_x = np.asarray(row.get("subhalo_center_x", []), dtype=float)
    sub_y = np.asarray(row.get("subhalo_center_y", []), dtype=float)

    sie = sie_coefficients(row["theta_E"], row["e1"], row["e2"], row["center_x"], row["center_y"], np.float64)
    g1, g2 = float(row["gamma1"]), float(row["gamma2"])

    def deflect(x, y):
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        ax, ay = sie_deflection_core(x, y, sie, x.shape)
        sx, sy = shear_deflection(x, y, g1, g2)
        ax, ay = ax + sx, ay + sy
        if len(sub_t):  # all subhaloes at once: (n_sub, n_points)
            dx, dy = sis_deflection(x[None], y[None], sub_t.reshape((-1,) + (1,) * x.ndim),
                                    sub_x.reshape((-1,) + (1,) * x.ndim), sub_y.reshape((-1,) + (1,) * x.ndim))
            ax, ay = ax + dx.sum(axis=0), ay + dy.sum(axis=0)
        return ax, ay

    return deflect


def _draw_lens(rng, p):
    row: dict = {"kind": "lens", "is_lens": True}
    q, phi, e1, e2 = _ellipse(rng, p["lens_q"])
    r_off = p["lens_center_offset_arcsec"] * math.sqrt(rng.uniform())
    t_off = rng.uniform(0, 2 * np.pi)
    cx, cy = r_off * math.cos(t_off), r_off * math.sin(t_off)
    if p["lens_model"] == "he2020":
        phys = _physical_lens(rng, p)
        theta_E = phys["theta_E"]
        mag_lens = phys["mag_lens"]
        mu, sd = p["lens_light_log10_Re_over_theta_E"]
        R_lens = float(theta_E * 10.0 ** rng.normal(mu, sd)) if sd > 0 else float(theta_E * 10.0**mu)
        row.update({k: phys[k] for k in ("z_d", "z_s", "m200_msun", "sigma_km_s")})
    else:
        if p["theta_E_distribution"] == "log_uniform":
            lo, hi = p["theta_E_arcsec"]
            theta_E = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        else:
            theta_E = _uniform(rng, p["theta_E_arcsec"])
        mag_lens = _uniform(rng, p["lens_mag"])
        R_lens = _uniform(rng, p["lens_light_R_sersic_arcsec"])
        phys = None
    gamma = _uniform(rng, p["shear_gamma"])
    phi_shear = rng.uniform(0, np.pi)
    row.update({"theta_E": theta_E, "e1": e1, "e2": e2, "center_x": cx, "center_y": cy,
                "gamma1": gamma * math.cos(2 * phi_shear), "gamma2": gamma * math.sin(2 * phi_shear),
                "lens_q": q, "lens_phi_deg": math.degrees(phi)})
    if p["subhaloes"] and phys is not None:
        from lensfinder.simulation.populations import subhalo_population

        pop = _lens_population(p)
        subs = subhalo_population(rng, pop.cosmology, phys["m200_msun"], phys["z_d"], phys["dds_over_ds"],
                                  tuple(p["subhalo_mass_fraction"]), p["subhalo_mass_floor_msun"], p["subhalo_n_bins"])
        subs["subhalo_center_x"] = [v + cx for v in subs["subhalo_center_x"]]
        subs["subhalo_center_y"] = [v + cy for v in subs["subhalo_center_y"]]
        row.update(subs)
    # lens light: same centre, q and angle as the halo (section 3.2)
    n_lens = _n_sersic(rng, p, "lens_light_n_sersic")
    zp = p["zeropoint_mag"]
    row.update(_sersic_component("lens_light", float(mag_to_counts(mag_lens, zp)), R_lens, n_lens, e1, e2, cx, cy))
    row["mag_lens"] = mag_lens
    # source
    R_src = _uniform(rng, p["source_R_sersic_arcsec"])
    n_src = _n_sersic(rng, p, "source_n_sersic")
    _, _, se1, se2 = _ellipse(rng, p["source_q"])
    if p["source_mag_model"] == "benitez":
        from lensfinder.simulation.populations import source_mag_distribution

        z_s = row.get("z_s", 1.0)
        mags, cdf = source_mag_distribution(float(z_s), tuple(p["source_mag"]))
        mag_src = float(np.interp(rng.uniform(), cdf, mags))
    else:
        mag_src = _uniform(rng, p["source_mag"])
    sx = sy = None
    if p["source_position"] == "caustic":
        caustic_x, caustic_y = tangential_caustic(_deflection_fn(row), theta_E, cx, cy, n_points=64, n_iter=25)
        ok = np.flatnonzero(np.isfinite(caustic_x))
        if len(ok):
            k = ok[int(rng.integers(len(ok)))]
            r, t = R_src * math.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            sx, sy = float(caustic_x[k] + r * math.cos(t)), float(caustic_y[k] + r * math.sin(t))
    if sx is None:  # disk placement (or no caustic found)
        r, t = p["source_offset_theta_E"] * theta_E * math.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        sx, sy = cx + r * math.cos(t), cy + r * math.sin(t)
    row.update(_sersic_component("source", float(mag_to_counts(mag_src, zp)), R_src, n_src, se1, se2, sx, sy))
    row["mag_source"] = mag_src
    return row


def _draw_negative(rng, p, kind):
    row: dict = {"kind": kind, "is_lens": False}
    zp = p["zeropoint_mag"]
    mag = _central_mag(rng, p)
    row["mag_lens"] = mag
    counts = float(mag_to_counts(mag, zp))
    r_off = p["lens_center_offset_arcsec"] * math.sqrt(rng.uniform())
    t_off = rng.uniform(0, 2 * np.pi)
    cx, cy = r_off * math.cos(t_off), r_off * math.sin(t_off)
    if kind in ("elliptical", "elliptical_pair"):
        _, _, e1, e2 = _ellipse(rng, p["elliptical_q"])
        row.update(_sersic_component("lens_light", counts, _uniform(rng, p["elliptical_R_sersic_arcsec"]),
                                     _uniform(rng, p["elliptical_n_sersic"]), e1, e2, cx, cy))
        if kind == "elliptical_pair":
            half = (p["stamp_size"] - 1) / 2 * p["pixel_scale_arcsec"] - 1.0
            while True:
                px, py = rng.uniform(-half, half), rng.uniform(-half, half)
                if math.hypot(px - cx, py - cy) >= p["companion_min_distance_arcsec"]:
                    break
            mag2 = mag + _uniform(rng, p["companion_mag_offset"])
            _, _, e1b, e2b = _ellipse(rng, p["elliptical_q"])
            row.update(_sersic_component("companion", float(mag_to_counts(mag2, zp)),
                                         _uniform(rng, p["companion_R_sersic_arcsec"]),
                                         _uniform(rng, p["elliptical_n_sersic"]), e1b, e2b, float(px), float(py)))
            row["mag_companion"] = mag2
    elif kind == "elongated":
        _, _, e1, e2 = _ellipse(rng, p["elongated_q"])
        row.update(_sersic_component("lens_light", counts, _uniform(rng, p["elongated_R_sersic_arcsec"]),
                                     _uniform(rng, p["elongated_n_sersic"]), e1, e2, cx, cy))
    elif kind == "bulge_disk":
        bd = _uniform(rng, p["bulge_to_disk"])
        _, _, e1, e2 = _ellipse(rng, p["bulge_q"])
        _, _, de1, de2 = _ellipse(rng, p["disk_q"])
        row.update(_sersic_component("lens_light", counts * bd / (1 + bd), _uniform(rng, p["bulge_disk_R_sersic_arcsec"]),
                                     _uniform(rng, p["bulge_n_sersic"]), e1, e2, cx, cy))
        row.update(_sersic_component("disk", counts / (1 + bd), _uniform(rng, p["bulge_disk_R_sersic_arcsec"]),
                                     _uniform(rng, p["disk_n_sersic"]), de1, de2, cx, cy))
        row["bulge_to_disk"] = bd
    else:  # pragma: no cover - validated
        raise InputError(f"negative_mix: unknown kind {kind!r}")
    return row


def _host_pool(p, is_lens, disk):
    """(HostStamps, candidate positions, what) for a semi-real row."""
    from lensfinder.simulation.semireal import load_hosts

    if disk and p["disk_stamps"]:
        hosts, flag, key = load_hosts(tuple(p["disk_stamps"])), "", "disk_stamps"
    else:
        hosts = load_hosts(tuple(p["host_stamps"]))
        flag = p["disk_flag"] if disk else (p["host_flag"] if is_lens else p["negative_flag"])
        key = "host_stamps"
        if disk and flag not in hosts.index.columns:
            raise InputError(f"disk_flag: column {flag!r} not in the index of {', '.join(hosts.files)}")
    candidates = hosts.select(flag)
    if not disk and p["disk_flag"] and p["disk_flag"] in hosts.index.columns:  # disks only as disks
        is_disk = hosts.index[p["disk_flag"]].fillna(False).to_numpy(dtype=bool)
        candidates = candidates[~is_disk[candidates]]
    if not len(candidates):
        raise InputError(f"{key}: no usable stamp (flag {flag!r}, no edge, no NaN) in {', '.join(hosts.files)}")
    return hosts, candidates


def _draw_semireal(rng, p, is_lens):
    """A semi-real row: a host stamp (augmented) and, for a lens, an arc (amplitude fixed later)."""
    from lensfinder.simulation.semireal import host_stamp

    disk = (not is_lens) and p["disk_fraction"] > 0 and bool(rng.uniform() < p["disk_fraction"])
    hosts, candidates = _host_pool(p, is_lens, disk)
    info = hosts.index.iloc[int(candidates[int(rng.integers(len(candidates)))])]
    host = {"host_file": str(info["host_file"]), "host_row": int(info["row"]), "host_object_id": str(info["object_id"]),
            "psf_fwhm_host": float(info["psf_fwhm_arcsec"]), "host_tile": str(info.get("tile", ""))}
    if p["aug_rot90_flip"]:
        host.update(aug_rot90=int(rng.integers(4)), aug_flip=bool(rng.integers(2)))
    try:  # bad pixels are an error naming the object, before anything is written
        host_stamp(host["host_file"], host["host_row"])
    except InputError as exc:
        raise InputError(f"{exc} (object {host['host_object_id']})") from None
    if not is_lens:
        return {"kind": "host_disk" if disk else "host", "is_lens": False, **host}
    row = _draw_lens(rng, p)
    for k in SERSIC_KEYS:  # the host is the lens galaxy
        row.pop(f"lens_light_{k}")
    row.pop("mag_lens")
    row.update(host)
    # source substructure: small round Sersic clumps near the source centre
    src_flux = float(sersic_total_flux(row["source_amp"], row["source_R_sersic"], row["source_n_sersic"]))
    lo, hi = p["source_clumps"]
    clumps = {f"clump_{k}": [] for k in ("amp", "R_sersic", "n_sersic", "center_x", "center_y")}
    for _ in range(int(rng.integers(int(lo), int(hi) + 1))):
        R = _uniform(rng, p["clump_R_sersic_arcsec"])
        n = float(rng.uniform(0.5, 1.5))
        r, t = 1.5 * row["source_R_sersic"] * math.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        frac = _uniform(rng, p["clump_flux_fraction"])
        clumps["clump_amp"].append(frac * src_flux / float(sersic_total_flux(1.0, R, n)))
        clumps["clump_R_sersic"].append(R)
        clumps["clump_n_sersic"].append(n)
        clumps["clump_center_x"].append(row["source_center_x"] + r * math.cos(t))
        clumps["clump_center_y"].append(row["source_center_y"] + r * math.sin(t))
    row.update(clumps)
    row["grf_seed"] = int(rng.integers(2**63))
    row["grf_deflection_rms_arcsec"] = _uniform(rng, p["grf_deflection_rms_arcsec"])
    if p["arc_brightness"] == "flux_ratio":
        row["arc_flux_ratio"] = _uniform(rng, p["arc_flux_ratio"])
        row["host_flux_radius_arcsec"] = float(p["host_flux_radius_arcsec"])
    else:
        row["arc_peak_ratio"] = _uniform(rng, p["arc_peak_ratio"])
    return row


def _draw_augmentation(rng, p):
    """Second-stage augmentation of a semi-real image (:func:`lensfinder.simulation.semireal.augment_image`)."""

    def integer(lo_hi):
        return int(rng.integers(int(lo_hi[0]), int(lo_hi[1]) + 1))

    return {"aug_rotation_deg": _uniform(rng, p["aug_rotation_deg"]),
            "aug_shift_x_pix": integer(p["aug_shift_pix"]), "aug_shift_y_pix": integer(p["aug_shift_pix"]),
            "aug_crop_left": integer(p["aug_crop_pix"]), "aug_crop_right": integer(p["aug_crop_pix"]),
            "aug_crop_bottom": integer(p["aug_crop_pix"]), "aug_crop_top": integer(p["aug_crop_pix"]),
            "aug_flux_scale": _uniform(rng, p["aug_flux_scale"]), "aug_seed": int(rng.integers(2**63)),
            "aug_interpolation_order": int(p["aug_interpolation_order"])}


def _epsf_columns(p, tile):
    """PSF columns of a semi-real row with ``psf_model=epsf`` (the kernel is built once per tile)."""
    import json

    from lensfinder.simulation.epsf import settings_with_defaults, tile_psf_kernel

    if not tile:
        raise InputError("host_stamps: tile: psf_model=epsf needs the stamp index's tile column")
    settings = json.dumps(settings_with_defaults(p["epsf_settings"]), sort_keys=True)
    tile_file = str(Path(p["psf_tile_dir"]) / f"{tile}.fits")
    cat_file = str(Path(p["psf_catalog_dir"]) / f"{tile}.parquet")
    psf = tile_psf_kernel(tile_file, cat_file, settings)
    return {"psf_tile_file": tile_file, "psf_catalog_file": cat_file, "epsf_settings": settings,
            "epsf_n_stars": psf.n_stars, "psf_kernel_hash": psf.hash}


def _aperture_snr_inputs(row, pixel_scale):
    """Foreground-galaxy counts inside the S/N aperture and its pixel count (analytic)."""
    from scipy.special import gammainc

    comps = [c for c in ("lens_light", "disk") if np.isfinite(row.get(f"{c}_amp", np.nan))]
    r_ap = max(2.0 * max(row[f"{c}_R_sersic"] for c in comps), 1.0)
    flux = 0.0
    for c in comps:
        n, R = row[f"{c}_n_sersic"], row[f"{c}_R_sersic"]
        total = float(sersic_total_flux(row[f"{c}_amp"], R, n))
        flux += total * float(gammainc(2 * n, sersic_b_n(n) * (r_ap / R) ** (1.0 / n)))
    return flux, math.pi * r_ap**2 / pixel_scale**2


def draw_image_params(recipe: str, params: dict, seed: int, shard: int, index: int, set_name: str = "sim",
                      noiseless: bool = False) -> dict:
    """All parameters of image ``index`` of shard ``shard`` (one metadata row).

    The image's generator is ``default_rng(SeedSequence([seed, shard, index]))``;
    its noise from the counter-based stream of ``image_seed`` (recorded; :mod:`lensfinder.simulation.compiled`).
    """
    ss = np.random.SeedSequence([int(seed), int(shard), int(index)])
    rng = np.random.default_rng(ss)
    image_seed = int(ss.generate_state(1, dtype=np.uint64)[0])
    p = params
    f = p["lens_fraction"]
    is_lens = math.floor((index + 1) * f) > math.floor(index * f)  # exact fraction, no randomness
    gain = p["gain"]
    if p["semi_real"]:
        row = _draw_semireal(rng, p, is_lens)
        # the arc takes the host's seeing; noise: the arc's own Poisson noise (the host has its noise)
        psf, sky, snr = round(row.pop("psf_fwhm_host"), 3), 0.0, float("nan")
        tile = row.pop("host_tile")
        row.update(_draw_augmentation(rng, p))
        if p["psf_model"] == "epsf":
            row.update(_epsf_columns(p, tile))
    elif is_lens:
        row = _draw_lens(rng, p)
    else:
        kinds = list(p["negative_mix"])
        w = np.array([p["negative_mix"][k] for k in kinds], dtype=float)
        row = _draw_negative(rng, p, kinds[int(rng.choice(len(kinds), p=w / w.sum()))])
    if not p["semi_real"]:
        # on a 0.001" grid, so that PSF kernels can be cached (observe._gaussian_taps)
        psf = round(_uniform(rng, p["psf_fwhm_arcsec"]), 3)
        sky, snr = _noise_level(rng, p, row)
    moffat = p["psf_model"] == "moffat" and not p["semi_real"]
    beta = round(_uniform(rng, p["psf_moffat_beta"]), 3) if moffat else float("nan")
    psf_model = "moffat" if moffat else ("epsf" if p["semi_real"] and p["psf_model"] == "epsf" else "gaussian")
    row.update({
        "object_id": f"{set_name}-{seed}-{shard}-{index}", "recipe": recipe, "seed": int(seed), "shard": int(shard),
        "index": int(index), "image_seed": image_seed, "stamp_size": int(p["stamp_size"]),
        "pixel_scale_arcsec": float(p["pixel_scale_arcsec"]), "zeropoint_mag": float(p["zeropoint_mag"]),
        "psf_fwhm_arcsec": psf, "psf_truncation_sigma": float(p["psf_truncation_sigma"]),
        "psf_model": psf_model, "psf_beta": beta,
        "psf_radius_arcsec": float(p["psf_moffat_radius_arcsec"]) if moffat else float("nan"),
        "light_supersampling": int(p["light_supersampling"]),
        "light_supersampling_radius_pix": int(p["light_supersampling_radius_pix"]),
        "sky_sigma": sky, "gain": float(gain), "snr": snr, "noiseless": bool(noiseless),
    })
    return row


def _noise_level(rng, p, row):
    """Sky sigma (counts per pixel) and the foreground galaxy's S/N."""
    flux_ap, n_ap = _aperture_snr_inputs(row, p["pixel_scale_arcsec"])
    gain = p["gain"]
    if p["noise_model"] == "snr_he2020":
        snr = float(snr_he2020(row["mag_lens"]) * _uniform(rng, p["snr_scatter"]))  # He et al. 2020, eq. 17
        sky = float(sky_sigma_for_snr(flux_ap, n_ap, snr, gain, floor=0.01))
    else:
        sky = float(sky_sigma_for_depth(_uniform(rng, p["depth_mag_5sigma"]), p["zeropoint_mag"], p["pixel_scale_arcsec"]))
    return sky, flux_ap / math.sqrt(flux_ap / gain + n_ap * sky**2)


# --------------------------------------------------------------------------- rendering

_FLOAT_COLUMNS = (
    ["theta_E", "e1", "e2", "center_x", "center_y", "gamma1", "gamma2", "lens_q", "lens_phi_deg",
     "z_d", "z_s", "m200_msun", "sigma_km_s"]
    + [f"{c}_{k}" for c in ("lens_light", "source", "companion", "disk") for k in SERSIC_KEYS]
    + ["mag_lens", "mag_source", "mag_companion", "bulge_to_disk"]
)
_LIST_COLUMNS = ("subhalo_theta_E", "subhalo_center_x", "subhalo_center_y", "subhalo_mass_msun",
                 "clump_amp", "clump_R_sersic", "clump_n_sersic", "clump_center_x", "clump_center_y")
#: semi-real columns and their values for fully simulated rows
_HOST_COLUMNS = {"host_file": "", "host_row": -1, "host_object_id": "", "aug_rot90": 0, "aug_flip": False,
                 "grf_seed": 0, "grf_deflection_rms_arcsec": 0.0, "arc_peak_ratio": float("nan"),
                 "arc_flux_ratio": float("nan"), "host_flux": float("nan"), "host_flux_radius_arcsec": float("nan"),
                 "aug_rotation_deg": 0.0, "aug_shift_x_pix": 0, "aug_shift_y_pix": 0, "aug_crop_left": 0,
                 "aug_crop_right": 0, "aug_crop_bottom": 0, "aug_crop_top": 0, "aug_flux_scale": 1.0, "aug_seed": 0,
                 "aug_interpolation_order": 3, "psf_tile_file": "", "psf_catalog_file": "", "epsf_settings": "",
                 "epsf_n_stars": -1, "psf_kernel_hash": ""}
_HOST_DTYPES = {"host_row": np.int64, "aug_rot90": np.int64, "aug_flip": bool, "grf_seed": np.uint64,
                "grf_deflection_rms_arcsec": float, "arc_peak_ratio": float, "arc_flux_ratio": float,
                "host_flux": float, "host_flux_radius_arcsec": float, "aug_rotation_deg": float,
                "aug_shift_x_pix": np.int64, "aug_shift_y_pix": np.int64, "aug_crop_left": np.int64,
                "aug_crop_right": np.int64, "aug_crop_bottom": np.int64, "aug_crop_top": np.int64,
                "aug_flux_scale": float, "aug_seed": np.uint64, "aug_interpolation_order": np.int64,
                "epsf_n_stars": np.int64}
_HEAD_COLUMNS = ["object_id", "is_lens", "kind", "recipe", "seed", "shard", "index", "image_seed"]
_OBS_COLUMNS = ["stamp_size", "pixel_scale_arcsec", "zeropoint_mag", "psf_fwhm_arcsec", "psf_truncation_sigma",
                "psf_model", "psf_beta", "psf_radius_arcsec",
                "light_supersampling", "light_supersampling_radius_pix", "sky_sigma", "gain", "snr", "noiseless"]


def _rows_to_frame(rows):
    import pandas as pd

    data = {c: [r[c] for r in rows] for c in _HEAD_COLUMNS}
    for c in _FLOAT_COLUMNS:
        data[c] = np.array([r.get(c, np.nan) for r in rows], dtype=float)
    for c in _LIST_COLUMNS:
        data[c] = [list(map(float, r.get(c, []))) for r in rows]
    data["n_subhalo"] = np.array([len(r.get("subhalo_theta_E", [])) for r in rows], dtype=np.int32)
    data["n_clump"] = np.array([len(r.get("clump_amp", [])) for r in rows], dtype=np.int32)
    for c, default in _HOST_COLUMNS.items():
        data[c] = [r.get(c, default) for r in rows]
    for c in _OBS_COLUMNS:
        data[c] = [r[c] for r in rows]
    df = pd.DataFrame(data)
    df["image_seed"] = df["image_seed"].astype(np.uint64)
    for c in ("seed", "shard", "index", "stamp_size", "light_supersampling", "light_supersampling_radius_pix"):
        df[c] = df[c].astype(np.int64)
    df["is_lens"] = df["is_lens"].astype(bool)
    df["noiseless"] = df["noiseless"].astype(bool)
    df = df.astype(_HOST_DTYPES)
    return df


def _prepare(df, pixel_scale):
    """Render inputs for a whole table, computed once (vectorised).

    Profile constants are float32 rows in the layouts of
    :func:`lensfinder.simulation.lensing.sersic_coefficients` (``unlensed``: (N, K, 9),
    ``lensed``: (N, 1, 9)) and :func:`lensfinder.simulation.lensing.sie_coefficients`
    (``sie``: (N, 12)); absent components get amplitude 0 (and harmless
    R_sersic = n_sersic = 1), which the kernels skip.
    """
    n_rows = len(df)

    def col(name):
        return np.nan_to_num(df[name].to_numpy(dtype=float), nan=0.0)

    def sersic_rows(prefix):
        R, n = col(f"{prefix}_R_sersic"), col(f"{prefix}_n_sersic")
        c = sersic_coefficients(col(f"{prefix}_amp") * pixel_scale**2, np.where(R > 0, R, 1.0),
                                np.where(n > 0, n, 1.0), col(f"{prefix}_e1"), col(f"{prefix}_e2"),
                                col(f"{prefix}_center_x"), col(f"{prefix}_center_y"))
        return np.stack([np.broadcast_to(v, (n_rows,)) for v in c], axis=-1)

    prep = {
        "unlensed": np.stack([sersic_rows(p) for p in UNLENSED_LIGHT], axis=1),
        "lensed": np.stack([sersic_rows(p) for p in LENSED_LIGHT], axis=1),
        "sie": np.stack([np.broadcast_to(v, (n_rows,)) for v in
                         sie_coefficients(col("theta_E"), col("e1"), col("e2"), col("center_x"), col("center_y"))],
                        axis=-1),
        "shear": np.stack([col("gamma1"), col("gamma2")], axis=-1).astype(np.float32),
    }
    for c in _LIST_COLUMNS:
        if c in df:
            prep[c] = df[c].to_numpy()
        else:  # metadata written before the column existed
            prep[c] = np.empty(n_rows, dtype=object)
            for i in range(n_rows):
                prep[c][i] = []
    for c, default in _HOST_COLUMNS.items():
        prep[c] = df[c].to_numpy() if c in df else np.full(n_rows, default)
    for c in ("psf_fwhm_arcsec", "light_supersampling", "light_supersampling_radius_pix", "psf_truncation_sigma",
              "image_seed", "sky_sigma", "gain", "noiseless"):
        prep[c] = df[c].to_numpy()
    for c, default in (("psf_model", "gaussian"), ("psf_beta", np.nan), ("psf_radius_arcsec", np.nan)):
        prep[c] = df[c].to_numpy() if c in df else np.full(n_rows, default)
    return prep


def _permute(prep, order):
    """:func:`_prepare` output with its rows in ``order``."""
    return {key: value[order] for key, value in prep.items()}


def _batch(prep, sl):
    """The rows ``sl`` (a slice: views, no copies) of :func:`_prepare` output."""
    return {key: value[sl] for key, value in prep.items()}


def _padded(lists, columns, n_img):
    """Per-image lists of equal length per column -> float64 array (n_img, max length, len(columns))."""
    n_max = max((len(v) for v in lists[columns[0]]), default=0)
    out = np.zeros((n_img, n_max, len(columns)))
    if n_max == 0:
        return out
    for i in range(n_img):
        k = len(lists[columns[0]][i])
        for j, c in enumerate(columns):
            out[i, :k, j] = lists[c][i]
    return out


def _render_batch(batch, xg, yg, pixel_scale, noisy, grf_slope=6.0, out=None, rows=None):
    """PSF-convolved images of one batch (from :func:`_batch`), with noise where ``noisy``.

    With ``out`` (N, n, n) and ``rows`` (B,), image ``b`` is written to
    ``out[rows[b]]`` and ``None`` is returned (Gaussian PSF only).

    ``xg, yg`` are the float32 pixel-centre coordinates of the columns and
    rows. The light, the lensing, the Gaussian PSF and the noise run in the
    compiled kernels of :mod:`lensfinder.simulation.compiled` (one image at a time, in
    cache); Moffat and tile-ePSF kernels are applied by FFT between the light
    and the noise kernels.
    """
    from lensfinder.simulation.compiled import render_batch, render_light


    n_img, n = len(batch["psf_fwhm_arcsec"]), len(xg)
    subhalo = _padded(batch, ("subhalo_theta_E", "subhalo_center_x", "subhalo_center_y"), n_img).astype(np.float32)
    lensed = batch["lensed"]
    clumps = _padded(batch, tuple(f"clump_{k}" for k in ("amp", "R_sersic", "n_sersic", "center_x", "center_y")),
                     n_img)
    if clumps.shape[1]:  # source substructure, lensed like the source; padding has amplitude 0
        amp, R, nn, cx, cy = np.moveaxis(clumps, -1, 0)
        c = sersic_coefficients(amp * pixel_scale**2, np.where(R > 0, R, 1.0), np.where(nn > 0, nn, 1.0), 0.0, 0.0,
                                cx, cy)
        lensed = np.concatenate([lensed, np.stack([np.broadcast_to(v, amp.shape) for v in c], axis=-1)], axis=1)
    rms = np.asarray(batch["grf_deflection_rms_arcsec"], dtype=float)
    with_grf = np.flatnonzero(rms > 0)
    extra = np.zeros((len(with_grf), 2, n, n), dtype=np.float32)
    extra_index = np.full(n_img, -1, dtype=np.int64)
    for m, i in enumerate(with_grf):  # potential perturbation (semi-real recipe)
        from lensfinder.simulation.semireal import grf_deflection

        extra[m, 0], extra[m, 1] = grf_deflection(int(batch["grf_seed"][i]), float(rms[i]), n, pixel_scale,
                                                  float(grf_slope))
        extra_index[i] = m
    images = np.empty((n_img, n, n), dtype=np.float32)
    light_args = (xg, yg, np.ascontiguousarray(batch["unlensed"]), np.ascontiguousarray(batch["sie"]),
                  np.ascontiguousarray(batch["shear"]), subhalo, np.ascontiguousarray(lensed), extra, extra_index,
                  float(pixel_scale), int(batch["light_supersampling"][0]),
                  int(batch["light_supersampling_radius_pix"][0]))
    noise_args = noise_arguments(n_img, batch["sky_sigma"], batch["gain"].astype(float),
                                 batch["image_seed"].astype(np.uint64), noisy)
    psf_model = batch["psf_model"][0]
    if psf_model not in ("moffat", "epsf"):
        taps = gaussian_taps(batch["psf_fwhm_arcsec"].astype(float), pixel_scale,
                             float(batch["psf_truncation_sigma"][0]))
        if out is not None:
            render_batch(out, rows, *light_args, taps, *noise_args)
            return None
        render_batch(images, np.arange(n_img), *light_args, taps, *noise_args)
        return images
    render_light(images, *light_args)
    for i in range(n_img):
        if psf_model == "moffat":
            kernel = _moffat_kernel(float(batch["psf_fwhm_arcsec"][i]), float(batch["psf_beta"][i]),
                                    float(batch["psf_radius_arcsec"][i]), pixel_scale)
        else:
            kernel = _epsf_kernel(batch, i)
        images[i] = convolve_kernel(images[i:i + 1], kernel)[0]
    add_noise(images, *noise_args)
    return images


def _epsf_kernel(batch, i):
    """The tile ePSF kernel of row ``i`` of a batch, checked against the hash in its metadata."""
    from lensfinder.simulation.epsf import tile_psf_kernel

    psf = tile_psf_kernel(str(batch["psf_tile_file"][i]), str(batch["psf_catalog_file"][i]),
                          str(batch["epsf_settings"][i]))
    expected = str(batch["psf_kernel_hash"][i])
    if expected and psf.hash != expected:
        raise InputError(f"{batch['psf_tile_file'][i]}: psf_kernel_hash: the tile's ePSF is {psf.hash}, the metadata "
                         f"expects {expected} (tile, catalogue or photutils changed since the shard was made)")
    return psf.kernel.astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _moffat_kernel(fwhm, beta, radius_arcsec, pixel_scale):
    """Moffat PSF kernel of half-width ``radius_arcsec`` (cached: FWHM and beta are on 0.001 grids)."""
    size = 2 * int(math.ceil(radius_arcsec / pixel_scale)) + 1
    return moffat_psf_kernel(fwhm, pixel_scale, beta=beta, size_pix=size).astype(np.float32)


def render_images(table, noiseless: bool | None = None, batch_size: int = 32, progress: bool = False,
                  with_hosts: bool = True, grf_slope: float = 6.0):
    """Render the images described by a metadata table (or list of row dicts).

    Parameters
    ----------
    table : pandas.DataFrame or list of dict
        Metadata rows (:func:`simulate_shard` output or a subset of it).
    noiseless : bool, optional
        Leave noise out; ``None`` follows each row's ``noiseless`` column.
    batch_size : int
        Images rendered together (the kernels work image by image; larger
        batches only spread the per-batch Python work).
    with_hosts : bool
        Add the host stamps of semi-real rows (``False``: the arcs alone).
    grf_slope : float
        Power-spectrum slope of the potential perturbation (semi-real rows).

    Returns
    -------
    ndarray, float32, shape (n, stamp_size, stamp_size)
    """
    import pandas as pd

    df = table if isinstance(table, pd.DataFrame) else _rows_to_frame(list(table))
    if len(df) == 0:
        return np.zeros((0, 0, 0), dtype=np.float32)
    sizes = df["stamp_size"].unique()
    scales = df["pixel_scale_arcsec"].unique()
    if len(sizes) != 1 or len(scales) != 1:
        raise InputError("metadata: stamp_size/pixel_scale_arcsec: all rows of one render must share them")
    n, scale = int(sizes[0]), float(scales[0])
    x, y = pixel_grid(n, scale)
    xg, yg = np.ascontiguousarray(x[0]), np.ascontiguousarray(y[:, 0])
    out = np.empty((len(df), n, n), dtype=np.float32)
    # rows with the same components and numerics render together, in contiguous slices
    psf_models = df["psf_model"].to_numpy() if "psf_model" in df else np.full(len(df), "gaussian")
    # the PSF kernel half-width is shared within a batch: rows render
    # identically alone or in any batch
    trunc = df["psf_truncation_sigma"].to_numpy(dtype=float)
    band = np.ceil(trunc * fwhm_to_sigma(df["psf_fwhm_arcsec"].to_numpy(dtype=float)) / scale).astype(int)
    keys = list(zip(df["kind"].to_numpy(), df["light_supersampling"].to_numpy(),
                    df["light_supersampling_radius_pix"].to_numpy(), trunc, psf_models, band))
    first_seen = {k: i for i, k in reversed(list(enumerate(keys)))}
    order = np.array(sorted(range(len(keys)), key=lambda i: (first_seen[keys[i]], i)))
    prep = _permute(_prepare(df, scale), order)
    bounds = []
    start = 0
    for i in range(1, len(order) + 1):
        if i == len(order) or keys[order[i]] != keys[order[start]] or i - start == batch_size:
            bounds.append((start, i))
            start = i

    with _one_blas_thread():
        _render_chunks(out, prep, order, bounds, xg, yg, scale, noiseless, with_hosts, grf_slope, progress)
    return out


def _one_blas_thread():
    """Limit BLAS to one thread: the PSF matrix products are small, and
    multi-threaded OpenBLAS spins (up to 8x more CPU time on 2 cores)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _render_chunks(out, prep, order, bounds, xg, yg, scale, noiseless, with_hosts, grf_slope, progress):
    from lensfinder.progress import progress as _progress

    for lo, hi in _progress(bounds, desc="render", unit="batch", disable=not progress or None):
        batch = _batch(prep, slice(lo, hi))
        quiet = batch["noiseless"].astype(bool) if noiseless is None else np.full(hi - lo, bool(noiseless))
        hosts = np.flatnonzero(batch["host_file"] != "") if with_hosts else np.zeros(0, dtype=int)
        direct = len(hosts) == 0 and batch["psf_model"][0] not in ("moffat", "epsf")
        images = _render_batch(batch, xg, yg, scale, ~quiet, grf_slope=grf_slope, out=out if direct else None,
                               rows=order[lo:hi] if direct else None)
        if images is None:  # written to out[order[lo:hi]]
            continue
        if len(hosts):
            for i in hosts:
                from lensfinder.simulation.semireal import augment_image, host_stamp

                images[i] += host_stamp(batch["host_file"][i], int(batch["host_row"][i]), int(batch["aug_rot90"][i]),
                                        bool(batch["aug_flip"][i]))
                images[i] = augment_image(
                    images[i], float(batch["aug_rotation_deg"][i]), int(batch["aug_shift_x_pix"][i]),
                    int(batch["aug_shift_y_pix"][i]),
                    tuple(int(batch[f"aug_crop_{e}"][i]) for e in ("left", "right", "bottom", "top")),
                    float(batch["aug_flux_scale"][i]), int(batch["aug_seed"][i]),
                    int(batch["aug_interpolation_order"][i]))
        out[order[lo:hi]] = images


def render_from_metadata(row, noiseless: bool | None = None):
    """Re-create one image from its metadata row alone.

    Parameters
    ----------
    row : mapping or pandas.Series
        One row of a shard's metadata table.
    noiseless : bool, optional
        ``None`` (default) renders as the shard was made; ``True`` drops the
        noise, ``False`` adds it (from the row's ``image_seed``).

    Returns
    -------
    ndarray, float32, shape (stamp_size, stamp_size)
    """
    import pandas as pd

    if isinstance(row, pd.Series):
        df = row.to_frame().T.reset_index(drop=True)
        df = df.infer_objects()
    else:
        df = _rows_to_frame([dict(row)]) if "n_subhalo" not in row else pd.DataFrame([dict(row)])
    return render_images(df, noiseless=noiseless)[0]


def simulate_shard(recipe: str, n: int, seed: int, shard: int, params: dict | None = None, set_name: str = "sim",
                   noiseless: bool = False, batch_size: int = 32, progress: bool = True):
    """Simulate one shard of ``n`` images.

    Parameters
    ----------
    recipe : str
        A key of :data:`RECIPES`.
    n : int
        Number of images.
    seed, shard : int
        Set seed and shard number; image ``i`` uses ``SeedSequence([seed, shard, i])``.
    params : dict, optional
        Overrides of the recipe defaults (validated by :func:`recipe_params`).
    set_name : str
        Prefix of ``object_id`` (``"{set}-{seed}-{shard}-{i}"``).
    noiseless : bool
        Skip noise (recorded in the metadata).

    Returns
    -------
    images : ndarray, float32, shape (n, stamp_size, stamp_size)
        Counts with zero point ``zeropoint_mag``.
    metadata : pandas.DataFrame
        One row per image (see ``docs/architecture.md``).
    """
    if int(n) < 0:
        raise InputError(f"--n: expected a non-negative number of images, got {n!r}")
    p = recipe_params(recipe, params)
    if p["semi_real"]:
        from lensfinder.simulation.semireal import load_hosts

        hosts = load_hosts(tuple(p["host_stamps"]))
        p["stamp_size"], p["pixel_scale_arcsec"], p["zeropoint_mag"] = hosts.geometry()
        if p["disk_stamps"] and p["disk_fraction"] > 0:
            disks = load_hosts(tuple(p["disk_stamps"])).geometry()
            if disks != (p["stamp_size"], p["pixel_scale_arcsec"], p["zeropoint_mag"]):
                raise InputError(f"disk_stamps: geometry {disks} (size, pixel scale, zero point) differs from the "
                                 f"host stamps' {(p['stamp_size'], p['pixel_scale_arcsec'], p['zeropoint_mag'])}")
        if 2 * p["aug_crop_pix"][1] >= p["stamp_size"]:
            raise InputError(f"--set: aug_crop_pix: crops must leave part of the {p['stamp_size']}-pixel stamps, "
                             f"got {p['aug_crop_pix']}")
    from lensfinder.progress import progress as _progress

    rows = [draw_image_params(recipe, p, seed, shard, i, set_name, noiseless)
            for i in _progress(range(int(n)), desc=f"draw {set_name} shard {shard}", unit="img", disable=not progress or None)]
    df = _empty_frame(rows)
    if p["semi_real"] and len(df):
        _scale_arcs(df, batch_size, p["grf_slope"])
    images = render_images(df, noiseless=None, batch_size=batch_size, progress=progress, grf_slope=p["grf_slope"])
    if len(df) == 0:
        images = np.zeros((0, p["stamp_size"], p["stamp_size"]), dtype=np.float32)
    log.info("simulated %d images (%d lenses) with recipe %s, seed %d, shard %d",
             len(df), int(df["is_lens"].sum()) if len(df) else 0, recipe, seed, shard)
    return images, df


def _scale_arcs(df, batch_size, grf_slope):
    """Set arc amplitudes so that arc peak / host peak = ``arc_peak_ratio`` (Li et al. 2020, section 2.2),
    or arc flux / host flux = ``arc_flux_ratio`` (He et al. 2020, section 4.2).

    The host peak is the maximum of the central 5 x 5 pixels of the host stamp
    (after the first augmentation stage); the arc peak that of the noiseless,
    PSF-convolved arc. The host flux is the stamp's sum within
    ``host_flux_radius_arcsec`` (recorded in ``host_flux``), the arc flux the
    noiseless arc's sum over the stamp. Both before the second augmentation
    stage, which scales host and arc alike. Updates ``source_amp``,
    ``clump_amp``, ``mag_source`` (and ``host_flux``) in place.
    """
    from lensfinder.simulation.semireal import host_flux, host_stamp

    lenses = np.flatnonzero(df["is_lens"].to_numpy())
    if not len(lenses):
        return
    arcs = render_images(df.iloc[lenses], noiseless=True, batch_size=batch_size, with_hosts=False, grf_slope=grf_slope)
    scale = np.empty(len(lenses))
    for k, i in enumerate(lenses):
        row = df.iloc[i]
        host = host_stamp(row["host_file"], int(row["host_row"]), int(row["aug_rot90"]), bool(row["aug_flip"]))
        if np.isfinite(row["arc_flux_ratio"]):
            flux = host_flux(host, float(row["host_flux_radius_arcsec"]), float(row["pixel_scale_arcsec"]))
            if not flux > 0:
                raise InputError(f"{row['host_file']}: host row {row['host_row']} ({row['host_object_id']}): "
                                 f"no positive flux within {row['host_flux_radius_arcsec']}\" to scale the arc to")
            df.iat[i, df.columns.get_loc("host_flux")] = flux
            scale[k] = row["arc_flux_ratio"] * flux / float(arcs[k].sum(dtype=np.float64))
            continue
        c = host.shape[0] // 2
        host_peak = float(host[c - 2:c + 3, c - 2:c + 3].max())
        if not host_peak > 0:
            raise InputError(f"{row['host_file']}: host row {row['host_row']} ({row['host_object_id']}): "
                             f"no positive central peak to scale the arc to")
        scale[k] = row["arc_peak_ratio"] * host_peak / float(arcs[k].max())
    col = df.columns.get_loc("source_amp")
    df.iloc[lenses, col] = df["source_amp"].to_numpy()[lenses] * scale
    clumps = list(df["clump_amp"])
    for k, i in enumerate(lenses):
        clumps[i] = [float(a) * scale[k] for a in clumps[i]]
    df["clump_amp"] = clumps
    flux = np.array([float(sersic_total_flux(r["source_amp"], r["source_R_sersic"], r["source_n_sersic"]))
                     + sum(float(sersic_total_flux(a, R, n)) for a, R, n in
                           zip(r["clump_amp"], r["clump_R_sersic"], r["clump_n_sersic"]))
                     for _, r in df.iloc[lenses].iterrows()])
    df.iloc[lenses, df.columns.get_loc("mag_source")] = df["zeropoint_mag"].to_numpy()[lenses] - 2.5 * np.log10(flux)


def _empty_frame(rows):
    if rows:
        return _rows_to_frame(rows)
    import pandas as pd

    cols = _HEAD_COLUMNS + _FLOAT_COLUMNS + list(_LIST_COLUMNS) + ["n_subhalo", "n_clump"] + list(_HOST_COLUMNS) + _OBS_COLUMNS
    return pd.DataFrame({c: [] for c in cols})


# --------------------------------------------------------------------------- command line


def _parse_set(items):
    import yaml

    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--set: {item!r}: expected key=value")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise InputError(f"--set: {key}: value is not valid YAML ({exc})") from exc
    return out


def add_simulate_arguments(parser) -> None:
    """Arguments of ``lensfinder simulate``."""
    parser.add_argument("--recipe", default="skeleton", choices=sorted(RECIPES), help="simulation recipe")
    parser.add_argument("--n", type=int, required=True, help="number of images in the shard")
    parser.add_argument("--seed", type=int, default=1, help="set seed")
    parser.add_argument("--shard", type=int, default=0, help="shard number (file shard_{shard:03d})")
    parser.add_argument("--set-name", default="sim", help="set name, prefix of object_id")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--noiseless", action="store_true", help="no noise (validation sets)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe parameter (value parsed as YAML), e.g. psf_fwhm_arcsec=[0.55,0.75]")
    parser.add_argument("--batch-size", type=int, default=32, help="images rendered per call of the compiled kernels")


def run_simulate(args) -> int:
    """``lensfinder simulate``: write ``shard_{k:03d}.fits`` and ``.parquet`` into ``--out``."""
    from lensfinder.io import write_cube, write_table

    overrides = _parse_set(args.set)
    params = recipe_params(args.recipe, overrides)
    if args.n < 0:
        raise InputError(f"--n: expected a non-negative number of images, got {args.n}")
    images, meta = simulate_shard(args.recipe, args.n, args.seed, args.shard, overrides, args.set_name,
                                  args.noiseless, args.batch_size)
    out = Path(args.out)
    stem = f"shard_{int(args.shard):03d}"
    cards = {"RECIPE": args.recipe, "SEED": int(args.seed), "SHARD": int(args.shard), "SIMSET": args.set_name,
             "NOISELES": bool(args.noiseless)}
    write_cube(images, out / f"{stem}.fits", params["pixel_scale_arcsec"], params["zeropoint_mag"], cards,
               dtype=params["cube_dtype"])
    write_table(meta, out / f"{stem}.parquet")
    log.info("wrote %s/%s.{fits,parquet}", out, stem)
    return 0
