"""lenstronomy's image of one metadata row: the reference the simulator's tests compare with."""

from __future__ import annotations

import numpy as np
import pytest

from lensfinder.simulation.optics import gaussian_kernel_1d, moffat_psf_kernel

lenstronomy = pytest.importorskip("lenstronomy")
from lenstronomy.Data.imaging_data import ImageData  # noqa: E402
from lenstronomy.Data.psf import PSF  # noqa: E402
from lenstronomy.ImSim.image_model import ImageModel  # noqa: E402
from lenstronomy.LensModel.lens_model import LensModel  # noqa: E402
from lenstronomy.LightModel.light_model import LightModel  # noqa: E402
from lenstronomy.PointSource.point_source import PointSource  # noqa: E402

SERSIC = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")


def lenstronomy_image(row, supersampled_indexes=None, supersampling_factor=1, gaussian_supersampling=11):
    """Render one metadata row with lenstronomy, from the row alone (Gaussian blobs integrated over the
    pixels with ``gaussian_supersampling`` sub-pixels per axis; 1: sampled at pixel centres)."""
    n, s = int(row["stamp_size"]), float(row["pixel_scale_arcsec"])
    data = ImageData(image_data=np.zeros((n, n)), ra_at_xy_0=-(n - 1) / 2 * s, dec_at_xy_0=-(n - 1) / 2 * s,
                     transform_pix2angle=np.array([[s, 0.0], [0.0, s]]))
    if row.get("psf_model", "gaussian") == "moffat":
        size = 2 * int(np.ceil(row["psf_radius_arcsec"] / s)) + 1
        kernel = moffat_psf_kernel(row["psf_fwhm_arcsec"], s, beta=row["psf_beta"], size_pix=size)
    elif row.get("psf_model", "gaussian") == "epsf":
        from lensfinder.simulation.epsf import tile_psf_kernel

        kernel = tile_psf_kernel(row["psf_tile_file"], row["psf_catalog_file"], row["epsf_settings"]).kernel
    else:
        k = gaussian_kernel_1d(row["psf_fwhm_arcsec"], s, row["psf_truncation_sigma"])
        kernel = np.outer(k, k)
    psf = PSF(psf_type="PIXEL", kernel_point_source=kernel)
    lens_light = [c for c in ("lens_light", "disk", "companion") if np.isfinite(row[f"{c}_amp"])]
    kw_light = [{k: float(row[f"{c}_{k}"]) for k in SERSIC} for c in lens_light]
    for j in range(len(row.get("extra_amp", []))):  # satellites, group members, field galaxies
        kw_light.append({k: float(row[f"extra_{k}"][j]) for k in SERSIC})
    kw_lens, lens_models, kw_source, source_models = [], [], [], []
    if row["is_lens"]:
        lens_models = ["SIE", "SHEAR"]
        kw_lens = [{k: float(row[k]) for k in ("theta_E", "e1", "e2", "center_x", "center_y")},
                   {"gamma1": float(row["gamma1"]), "gamma2": float(row["gamma2"])}]
        for t, x, y in zip(row["subhalo_theta_E"], row["subhalo_center_x"], row["subhalo_center_y"]):
            lens_models.append("SIS")
            kw_lens.append({"theta_E": float(t), "center_x": float(x), "center_y": float(y)})
        source_models = ["SERSIC_ELLIPSE"]
        kw_source = [{k: float(row[f"source_{k}"]) for k in SERSIC}]
        for j in range(len(row["clump_amp"])):
            source_models.append("SERSIC_ELLIPSE")
            shape = {k: float(row[f"clump_{k}"][j]) if len(row.get(f"clump_{k}", [])) else 0.0 for k in ("e1", "e2")}
            kw_source.append({k: float(row[f"clump_{k}"][j]) for k in ("amp", "R_sersic", "n_sersic", "center_x", "center_y")}
                             | shape)
    numerics = {"supersampling_factor": supersampling_factor, "supersampling_convolution": False}
    if supersampled_indexes is not None:
        numerics.update(compute_mode="adaptive", supersampled_indexes=supersampled_indexes)
    # points: unlensed blobs of sigma 0 and the images of a lensed point source (lenstronomy's
    # point sources, shifted kernels); Gaussian blobs: GAUSSIAN profiles integrated over the pixels
    blobs = list(zip(*(row.get(f"blob_{k}", []) for k in ("amp", "center_x", "center_y", "sigma"))))
    points = [(a, x, y) for a, x, y, s in blobs if s == 0] + list(
        zip(*(row.get(k, []) for k in ("point_amp", "point_ra_image", "point_dec_image"))))
    kw_ps = [{"ra_image": np.array([p[1] for p in points]), "dec_image": np.array([p[2] for p in points]),
              "point_amp": np.array([p[0] for p in points])}] if points else []
    model = ImageModel(data, psf, lens_model_class=LensModel(lens_models) if lens_models else None,
                       source_model_class=LightModel(source_models) if source_models else None,
                       lens_light_model_class=LightModel(["SERSIC_ELLIPSE"] * len(kw_light)),
                       point_source_class=PointSource(["UNLENSED"]) if points else None,
                       kwargs_numerics=numerics)
    image = model.image(kwargs_lens=kw_lens, kwargs_source=kw_source, kwargs_lens_light=kw_light, kwargs_ps=kw_ps)
    gaussians = [{"amp": float(a), "sigma": float(s), "center_x": float(x), "center_y": float(y)}
                 for a, x, y, s in blobs if s > 0]
    if gaussians:
        fine = ImageModel(data, psf, lens_light_model_class=LightModel(["GAUSSIAN"] * len(gaussians)),
                          kwargs_numerics={"supersampling_factor": gaussian_supersampling,
                                           "supersampling_convolution": False})
        image = image + fine.image(kwargs_lens_light=gaussians)
    return image
