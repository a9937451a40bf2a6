"""The named simulation recipes: each one's values that differ from the defaults declared in
:class:`lensfinder.simulation.recipes.Recipe` (validated there by ``recipe_params``).

The recipes and the source of each choice are described in ``docs/simulation.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from lensfinder import constants

__all__ = ["RECIPES", "PAPER_RECIPES"]

#: recipe name -> its values that differ from the declared defaults
RECIPES: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "li2020": MappingProxyType({
        "draw_scheme": "per_image",
        "semi_real": True,
        "aug_shift_pix": (-4, 4),  # Li et al. 2020: "rotation, shifting, flipping, and rescale"
        "aug_flux_scale": (0.9, 1.1),
        "theta_E_arcsec": (1.0, 5.0),  # Li et al. 2020, section 2.1: log-uniform in [1", 5"]
        "theta_E_distribution": "log_uniform",
        "lens_center_offset_arcsec": 0.0,
        "source_offset_theta_E": 0.5,
        "light_supersampling": 1,
    }),
    "skeleton": MappingProxyType({}),
    "broad": MappingProxyType({  # the default: skeleton broadened toward the sky (docs/simulation.md, recipes)
        "theta_E_arcsec": (0.8, 3.5),
        "source_offset_theta_E": 1.0,
        "source_mix": MappingProxyType({"sersic": 0.4, "knots": 0.3, "irregular": 0.3}),
        "negative_mix": MappingProxyType({"elliptical": 0.25, "elliptical_pair": 0.15, "satellites": 0.25,
                                          "irregular": 0.1, "spiral": 0.05, "grand_design": 0.05, "ring": 0.08,
                                          "passive_ring": 0.07}),
        # KiDS DR4 5-sigma depths scatter by 0.13 (r), 0.14 (g) and 0.27 mag (i) from tile to tile
        # (Kuijken et al. 2019, A&A 625, A2): +-0.5 mag uniform (rms 0.29) covers the i - r spread
        "band_depth_scatter_mag": 0.5,
        # a quarter of the PSFs Moffat (beta 2.8-4.8, the wings of real seeing): on a Moffat test set the
        # Gaussian-only network scored AUROC 0.923, this mix 0.962 (docs/experiments.md)
        "psf_moffat_fraction": 0.25,
    }),
    "sky": MappingProxyType({  # the sky's confusers, faint arcs, Moffat PSFs: docs/simulation.md (sky)
        "psf_model": "moffat",
        "psf_moffat_beta": (2.5, 5.0),
        "lens_model": "uniform",
        "theta_E_arcsec": (0.5, 5.0),
        "lens_q": (0.5, 1.0),
        "shear_gamma": (0.0, 0.1),
        "lens_mag": (17.0, 20.5),
        "lens_light_R_sersic_arcsec": (0.3, 3.0),
        "lens_light_n_sersic": (1.0, 6.0),
        "lens_light_mix": MappingProxyType({"sersic": 0.5, "bulge_disk": 0.25, "double_sersic": 0.25}),
        "lens_satellite_fraction": 0.3,
        "field_galaxies": (0, 3),
        "elliptical_q": (0.5, 1.0),
        "elliptical_R_sersic_arcsec": (0.3, 3.0),
        "elliptical_n_sersic": (1.0, 6.0),
        "source_mix": MappingProxyType({"sersic": 0.3, "knots": 0.25, "irregular": 0.15, "multiple": 0.15,
                                        "quasar": 0.15}),
        "source_R_sersic_arcsec": (0.1, 0.8),
        "source_n_sersic": (0.5, 4.0),
        "source_knots": (5, 20),
        "source_q": (0.4, 1.0),
        "source_offset_theta_E": 0.6,
        "source_brightness": "arc_snr",
        "negative_mix": MappingProxyType({  # 3/4 around the lenses' kind of galaxy, 1/4 other confusers
            "elliptical": 0.3, "satellites": 0.3, "group": 0.08, "star_blend": 0.05, "irregular": 0.06,
            "spiral": 0.06, "ring": 0.04, "merger": 0.05, "edge_on": 0.03, "star": 0.01, "elongated": 0.01,
            "bulge_disk": 0.01}),
    }),
    "he2020_semireal": MappingProxyType({
        "draw_scheme": "per_image",
        "semi_real": True,
        "lens_model": "he2020",  # Table 1 ranges and eq. 12 subhaloes, as the he2020 recipe
        "theta_E_arcsec": (1.4, 5.0),
        "lens_center_offset_arcsec": 0.0,
        "shear_gamma": (0.0, 0.0),
        "subhaloes": True,
        "source_mag_model": "benitez",  # only sets the source's shape draw order: the flux is rescaled
        "source_mag": (15.0, 25.0),
        "source_R_sersic_arcsec": (0.2, 0.7),
        "source_n_sersic": (2.0, 5.0),
        "source_q": (0.7, 1.0),
        "source_position": "caustic",
        "source_clumps": (0, 0),
        "grf_deflection_rms_arcsec": (0.0, 0.0),
        "light_supersampling": 1,
        "arc_brightness": "flux_ratio",
        "aug_rot90_flip": False,
        "aug_rotation_deg": (0.0, 360.0),  # He et al. 2020, section 4.2
        "aug_crop_pix": (0, 5),
        "disk_fraction": 0.02,  # 2,020 disks among 102,241 negatives
        "psf_model": "epsf",
    }),
    "he2020": MappingProxyType({
        "draw_scheme": "per_image",
        "stamp_size": constants.HE2020_STAMP_SIZE,
        "pixel_scale_arcsec": constants.HE2020_PIXEL_SCALE_ARCSEC,
        "psf_fwhm_arcsec": (0.55, 0.75),  # He et al. 2020, section 3.4
        "lens_model": "he2020",
        "theta_E_arcsec": (1.4, 5.0),  # Table 1
        "lens_center_offset_arcsec": 0.0,
        "shear_gamma": (0.0, 0.0),  # no external shear (section 3.2)
        "subhaloes": True,
        "lens_light_n_sersic": (2.0, 5.0),
        "source_mag_model": "benitez",
        "source_mag": (15.0, 25.0),  # Table 1
        "source_R_sersic_arcsec": (0.2, 0.7),
        "source_n_sersic": (2.0, 5.0),
        "source_q": (0.7, 1.0),
        "source_position": "caustic",
        "negative_mag_model": "lens_population",
        "elliptical_R_sersic_arcsec": (0.2, 0.7),  # Table 2
        "companion_R_sersic_arcsec": (0.2, 0.7),
        "noise_model": "snr_he2020",
    }),
})


#: The papers' recipes: per-image streams, their own PSF and negatives unless a parameter opts in.
PAPER_RECIPES = ("he2020", "li2020", "he2020_semireal")
