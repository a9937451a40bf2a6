"""The mock survey's catalogue: photutils detection and measurement, truth matching, synthetic KiDS columns.

:func:`build_catalog` turns one tile's images into a catalogue with real KiDS
DR4 column names, units and dtypes (:data:`CATALOG_COLUMNS`): measured
columns from photutils on the detection band; the GAaP magnitudes and
colours of the bands rendered measured in PSF-matched apertures
(:mod:`lensfinder.surveys.mock.photometry`); the rest (u band, photo-z,
``SG2DPHOT``) drawn from the matched truth object. The columns are described
in ``docs/surveys.md``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lensfinder import constants
from lensfinder.surveys.designation import DESIGNATIONS, iau_names
from lensfinder.surveys.mock.render import render_stars

__all__ = ["CATALOG_COLUMNS", "KIDS_DR4_DEPTH_MAG", "build_catalog", "measure_catalog"]

log = logging.getLogger(__name__)

#: KiDS DR4 5-sigma limiting magnitudes (2" aperture) per band (Kuijken et al. 2019).
KIDS_DR4_DEPTH_MAG = {"u": 24.2, "g": 25.1, "r": 25.0, "i": 23.7}

#: Catalogue columns in order, with their dtype (as pandas reads the real fixture).
CATALOG_COLUMNS = {
    "ID": "str", "KIDS_TILE": "str", "THELI_NAME": "str", "SeqNr": "int64",
    "RAJ2000": "float64", "DECJ2000": "float64", "ALPHA_J2000": "float64", "DELTA_J2000": "float64",
    "MAG_AUTO": "float64", "MAGERR_AUTO": "float64", "FLUX_RADIUS": "float64", "KRON_RADIUS": "float64",
    "A_WORLD": "float64", "B_WORLD": "float64", "THETA_J2000": "float64",
    "FWHM_IMAGE": "float64", "FWHM_WORLD": "float64", "ISOAREA_WORLD": "float64",
    "CLASS_STAR": "float64", "SG2DPHOT": "int64",
    "COLOUR_GAAP_g_r": "float64", "COLOUR_GAAP_r_i": "float64",
    "MAG_GAAP_u": "float64", "MAG_GAAP_g": "float64", "MAG_GAAP_r": "float64", "MAG_GAAP_i": "float64",
    "MAGERR_GAAP_u": "float64", "MAGERR_GAAP_g": "float64", "MAGERR_GAAP_r": "float64",
    "MAGERR_GAAP_i": "float64",
    "MASK": "int64", "IMAFLAGS_ISO": "int64", "Flag": "int64",
    "Z_B": "float64", "Z_B_MIN": "float64", "Z_B_MAX": "float64",
    "Xpos": "float64", "Ypos": "float64",
}


def build_catalog(image, weight, mask, wcs, truth: pd.DataFrame, flux_true, *, psf_fwhm_arcsec: float,
                  psf_beta: float, gain: float, cfg, tile: str, rng: np.random.Generator,
                  pixel_scale_arcsec: float = constants.KIDS_COADD_PIXEL_SCALE_ARCSEC,
                  zeropoint_mag: float = constants.MOCK_ZEROPOINT_MAG, band_images: dict | None = None):
    """The tile's catalogue, and the truth table linked to it.

    Parameters
    ----------
    image, weight, mask, wcs
        The tile (see :func:`measure_catalog`).
    truth : pandas.DataFrame
        One row per simulated object; gains ``detected`` (bool) and, at
        position 1, ``ID`` (the catalogue ``ID`` of the detection it is the
        brightest object of, else null), in place.
    flux_true : ndarray
        Each truth object's total counts (own light plus lensed arcs).
    psf_fwhm_arcsec, psf_beta, gain, cfg, tile
        See :func:`measure_catalog`.
    rng : numpy.random.Generator
        The synthetic columns' stream.
    band_images : dict, optional
        ``{band: (image, weight, zeropoint_mag, psf_fwhm_arcsec, moffat_beta)}`` of every band
        rendered (the detection band included): their ``MAG_GAAP_*``, ``MAGERR_GAAP_*`` and the
        colours between them are measured
        (:func:`~lensfinder.surveys.mock.photometry.matched_aperture_magnitudes`);
        without it, or for the bands left out, they are synthetic.

    Returns
    -------
    catalog : pandas.DataFrame
        :data:`CATALOG_COLUMNS`, one row per detection (IDs unique).
    primary : ndarray of bool
        Truth objects that are the brightest of their detection.
    """
    measured, segm = measure_catalog(image, weight, mask, wcs, psf_fwhm_arcsec, psf_beta, gain, cfg, tile,
                                     pixel_scale_arcsec, zeropoint_mag)
    label, primary = _match_truth(truth, measured, segm, flux_true)
    row_of_label = pd.Series(np.arange(len(measured)), index=measured["label"].to_numpy()) \
        if len(measured) else pd.Series(dtype=np.int64)
    truth["detected"] = label > 0
    ids = np.full(len(truth), None, dtype=object)
    source = pd.DataFrame(index=np.arange(len(measured)),
                          columns=["object_type", "colour_g_r_true", "colour_r_i_true", "colour_u_g_true",
                                   "z_true", "mag_r_true"])
    source["object_type"] = ""
    for col in source.columns[1:]:
        source[col] = np.nan
    for i in np.flatnonzero(primary):
        row = int(row_of_label[label[i]])
        ids[i] = measured["ID"].iat[row]
        for col in source.columns:
            source.iat[row, source.columns.get_loc(col)] = truth[col].iat[i]
    truth.insert(1, "ID", pd.array(ids, dtype="str"))
    synthetic = _synthetic_columns(measured, source, rng) if len(measured) else pd.DataFrame()
    if band_images and len(measured):
        _replace_measured_photometry(synthetic, measured, band_images, pixel_scale_arcsec)
    catalog = pd.concat([measured, synthetic], axis=1)
    catalog = _finalise_catalog(catalog, tile)
    n_dup = int(catalog["ID"].duplicated().sum())
    if n_dup:
        log.warning("%s: %d detections share an ID with a brighter one (closer than 0.01\"); dropped", tile, n_dup)
        catalog = catalog.sort_values("MAG_AUTO", kind="stable").drop_duplicates("ID").sort_values("SeqNr")
        catalog = catalog.reset_index(drop=True)
    return catalog, primary


def measure_catalog(image, weight, mask, wcs, psf_fwhm_arcsec, psf_beta, gain, cfg,
                    tile: str, pixel_scale_arcsec=constants.KIDS_COADD_PIXEL_SCALE_ARCSEC,
                    zeropoint_mag=constants.MOCK_ZEROPOINT_MAG):
    """Detect and measure sources with photutils; KiDS DR4 names for the measured columns.

    Parameters
    ----------
    image, weight : ndarray
        Background-subtracted counts and inverse-variance weight.
    mask : ndarray of int16
        Mask bits (> 0 masked).
    wcs : astropy.wcs.WCS
    psf_fwhm_arcsec, psf_beta : float
        The tile's PSF (sets the detection filter and the stellarity scale).
    gain : float
        Effective gain (electrons per count) for the objects' Poisson noise.
    cfg : lensfinder.surveys.mock.tiles.MockSurveyConfig
        Detection settings (``detect_threshold_sigma``, ``detect_npixels``, ``deblend_*``).
    tile : str
        ``KIDS_TILE`` value.

    Returns
    -------
    measured : pandas.DataFrame
        Measured columns (no synthetic ones yet) plus the helper columns
        ``label``, ``x_pix``, ``y_pix`` (0-based coadd pixels) and ``snr``.
    segm : photutils SegmentationImage or None
    """
    from scipy import ndimage

    sigma_bg = np.where(weight > 0, 1.0 / np.sqrt(np.maximum(weight, 1e-30)), np.inf)
    error = np.sqrt(sigma_bg**2 + np.maximum(image, 0) / gain)
    cat, segm, parent = _detect_and_measure(image, error, wcs, cfg, psf_fwhm_arcsec, pixel_scale_arcsec,
                                            background_sigma=sigma_bg)
    if cat is None:
        log.warning("%s: no sources detected above %g sigma: an empty catalogue", tile, cfg.detect_threshold_sigma)
        return pd.DataFrame(columns=["label", "x_pix", "y_pix", "snr"]), None
    labels = np.asarray(segm.labels)
    x = np.asarray(cat.x_centroid, dtype=float)
    y = np.asarray(cat.y_centroid, dtype=float)
    ra, dec = wcs.pixel_to_world_values(x, y)
    kron_flux = np.asarray(cat.kron_flux, dtype=float)
    kron_err = np.asarray(cat.kron_flux_err, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(kron_flux > 0, zeropoint_mag - 2.5 * np.log10(kron_flux), 99.0)
        magerr = np.where(kron_flux > 0, 2.5 / np.log(10) * kron_err / kron_flux, 99.0)
        snr = kron_flux / kron_err
    r_half = np.asarray(cat.flux_radius(0.5).value, dtype=float)
    to_cat_pix = pixel_scale_arcsec / constants.KIDS_CATALOG_PIXEL_SCALE_ARCSEC
    # stellarity: half-light radius relative to a star's, pulled to 0.5 at low S/N
    r_star = _psf_half_light_radius_pix(psf_fwhm_arcsec, psf_beta, pixel_scale_arcsec, cfg)
    ratio = r_half / r_star
    stellar = 1.0 / (1.0 + np.exp(np.clip((ratio - 1.12) / 0.04, -50, 50)))
    w = np.nan_to_num(snr) ** 2 / (np.nan_to_num(snr) ** 2 + 15.0**2)
    class_star = 0.5 + w * (stellar - 0.5)

    seg = segm.data
    mask_at = mask[np.clip(np.rint(y).astype(int), 0, mask.shape[0] - 1),
                   np.clip(np.rint(x).astype(int), 0, mask.shape[1] - 1)].astype(np.int64)
    imaflags = (ndimage.maximum((mask > 0).astype(np.int8), labels=seg, index=labels) > 0).astype(np.int64)
    # SExtractor-like flags: 1 + 2 for deblended children, 8 for segments touching the border
    parent_of = ndimage.maximum(parent.data, labels=seg, index=labels).astype(np.int64)
    n_children = np.bincount(parent_of, minlength=parent_of.max() + 1)[parent_of]
    flag = np.where(n_children > 1, 3, 0)
    ny, nx = image.shape
    touches = ((np.asarray(cat.bbox_xmin) == 0) | (np.asarray(cat.bbox_ymin) == 0)
               | (np.asarray(cat.bbox_xmax) == nx - 1) | (np.asarray(cat.bbox_ymax) == ny - 1))
    flag = flag | np.where(touches, 8, 0)

    deg_per_pix = pixel_scale_arcsec / 3600.0
    a_pix = np.asarray(cat.semimajor_axis.value, dtype=float)
    b_pix = np.asarray(cat.semiminor_axis.value, dtype=float)
    theta = np.asarray(cat.orientation.value, dtype=float)  # deg, counter-clockwise from +x
    fwhm_pix = np.asarray(cat.fwhm.value, dtype=float)
    measured = pd.DataFrame({
        "ID": iau_names(ra, dec, DESIGNATIONS["mock"]),  # MOCK J...: not a KiDS source
        "KIDS_TILE": tile,
        "THELI_NAME": tile.replace(".", "p").replace("-", "m"),
        "SeqNr": labels.astype(np.int64),
        "RAJ2000": ra, "DECJ2000": dec, "ALPHA_J2000": ra, "DELTA_J2000": dec,
        "MAG_AUTO": mag, "MAGERR_AUTO": magerr,
        "FLUX_RADIUS": r_half * to_cat_pix,
        # SExtractor's (KiDS') KRON_RADIUS is the scaled one, k r_kron (PHOT_AUTOPARAMS 2.5, 3.5: at least 3.5);
        # photutils' kron_radius is unscaled, at least kron_params[1] = 1.4 = 3.5 / 2.5
        "KRON_RADIUS": cat.kron_params[0] * np.asarray(cat.kron_radius.value, dtype=float),
        "A_WORLD": a_pix * deg_per_pix, "B_WORLD": b_pix * deg_per_pix,
        # x grows to the west (east left): east of north is theta - 90, in [-90, 90)
        "THETA_J2000": (theta % 180.0) - 90.0,
        "FWHM_IMAGE": fwhm_pix * to_cat_pix, "FWHM_WORLD": fwhm_pix * deg_per_pix,
        "ISOAREA_WORLD": np.asarray(cat.area.value, dtype=float) * deg_per_pix**2,
        "CLASS_STAR": class_star,
        "MASK": mask_at, "IMAFLAGS_ISO": imaflags, "Flag": flag.astype(np.int64),
        "Xpos": 1.0 + x * to_cat_pix, "Ypos": 1.0 + y * to_cat_pix,
        "label": labels, "x_pix": x, "y_pix": y, "snr": snr,
    })
    return measured, segm


def _psf_half_light_radius_pix(fwhm_arcsec, beta, pixel_scale_arcsec, cfg):
    """Half-light radius of a noiseless star measured the way the catalogue measures it."""
    img = np.zeros((121, 121))
    render_stars(img, [60.0], [60.0], [1e5], fwhm_arcsec, beta, pixel_scale_arcsec)
    cat, _, _ = _detect_and_measure(img, np.full(img.shape, 1e-4), None, cfg, fwhm_arcsec,
                                    pixel_scale_arcsec, deblend=False)
    return float(cat.flux_radius(0.5).value[0]) if cat is not None else np.nan


def _detect_and_measure(image, error, wcs, cfg, fwhm_arcsec, pixel_scale_arcsec, deblend=True,
                        background_sigma=None):
    import warnings

    from astropy.convolution import convolve
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources, make_2dgaussian_kernel
    from photutils.utils.exceptions import NoDetectionsWarning

    fwhm_pix = fwhm_arcsec / pixel_scale_arcsec
    kernel = make_2dgaussian_kernel(fwhm_pix, size=2 * int(np.ceil(1.5 * fwhm_pix)) + 1)
    convolved = convolve(image, kernel, normalize_kernel=True)
    sigma = error if background_sigma is None else background_sigma
    threshold = cfg.detect_threshold_sigma * sigma
    n_pixels = cfg.detection_npixels(pixel_scale_arcsec)
    with warnings.catch_warnings():  # none found: the callers say so
        warnings.simplefilter("ignore", NoDetectionsWarning)
        segm = detect_sources(convolved, threshold, n_pixels=n_pixels)
    if segm is None:
        return None, None, None
    parent = segm
    if deblend:
        with warnings.catch_warnings():  # a segment with non-positive pixels is deblended in linear steps
            warnings.filterwarnings("ignore", message="The deblending mode of one or more source labels")
            segm = deblend_sources(convolved, segm, n_pixels=n_pixels, n_levels=cfg.deblend_nlevels,
                                   contrast=cfg.deblend_contrast, progress_bar=False)
    cat = SourceCatalog(image, segm, convolved_data=convolved, error=error, wcs=wcs)
    return cat, segm, parent


def _match_truth(truth: pd.DataFrame, measured: pd.DataFrame, segm, flux_true: np.ndarray):
    """Each truth object's detection label (0: none) and whether it is that label's primary."""
    if segm is None or len(measured) == 0:
        return np.zeros(len(truth), dtype=np.int64), np.zeros(len(truth), dtype=bool)
    ny, nx = segm.data.shape
    xi = np.rint(truth["x_pix"].to_numpy()).astype(int)
    yi = np.rint(truth["y_pix"].to_numpy()).astype(int)
    inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    label = np.zeros(len(truth), dtype=np.int64)
    label[inside] = segm.data[yi[inside], xi[inside]]
    primary = np.zeros(len(truth), dtype=bool)
    order = np.argsort(-flux_true, kind="stable")
    seen = set()
    for i in order:
        if label[i] > 0 and label[i] not in seen:
            seen.add(label[i])
            primary[i] = True
    return label, primary


def _synthetic_columns(measured: pd.DataFrame, source: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Colours, GAaP magnitudes, photo-z and SG2DPHOT drawn from the matched truth (synthetic)."""
    n = len(measured)
    is_star = (source["object_type"] == "star").to_numpy()
    g_r = source["colour_g_r_true"].to_numpy(dtype=float).copy()
    r_i = source["colour_r_i_true"].to_numpy(dtype=float).copy()
    u_g = source["colour_u_g_true"].to_numpy(dtype=float).copy()
    z = source["z_true"].to_numpy(dtype=float).copy()
    mag_true = source["mag_r_true"].to_numpy(dtype=float)
    # unmatched detections (split-off arcs, fragments): blue faint galaxies
    unmatched = ~np.isfinite(g_r)
    k = int(unmatched.sum())
    g_r[unmatched] = rng.normal(0.5, 0.25, k)
    r_i[unmatched] = 0.3 * g_r[unmatched] + 0.12 + rng.normal(0, 0.08, k)
    u_g[unmatched] = 0.5 + 0.9 * g_r[unmatched] + rng.normal(0, 0.2, k)
    z[unmatched] = rng.uniform(0.3, 2.0, k)

    mag_auto = measured["MAG_AUTO"].to_numpy(dtype=float)
    ok = mag_auto < 90
    r_half_arcsec = measured["FLUX_RADIUS"].to_numpy(dtype=float) * constants.KIDS_CATALOG_PIXEL_SCALE_ARCSEC
    # GAaP measures a seeing-matched aperture: fainter than the total for extended sources
    offset = np.where(is_star, 0.03, np.clip(0.1 + 0.25 * (r_half_arcsec - 0.6), 0.05, 0.6))
    r_ap = np.where(ok, mag_auto, 26.0) + offset
    size_factor = np.maximum(1.0, r_half_arcsec / 0.6)
    mags, errs = {}, {}
    true_band = {"r": r_ap, "g": r_ap + g_r, "i": r_ap - r_i, "u": r_ap + g_r + u_g}
    for band in ("u", "g", "r", "i"):
        zp = 30.0
        flux_true = 10 ** (-0.4 * (true_band[band] - zp))
        sigma_f = 10 ** (-0.4 * (KIDS_DR4_DEPTH_MAG[band] - zp)) / 5.0 * size_factor
        flux = flux_true * 10 ** (-0.4 * rng.normal(0, 0.02, n)) + rng.normal(0, 1, n) * sigma_f
        with np.errstate(divide="ignore", invalid="ignore"):
            mags[band] = np.where(flux > 0, zp - 2.5 * np.log10(flux), np.nan)
            errs[band] = np.where(flux > 0, 2.5 / np.log(10) * sigma_f / flux, np.nan)
    # photometric redshift: BPZ-like scatter, outliers, 0.01 grid
    z_b = z + rng.normal(0, 0.04, n) * (1 + z)
    outlier = rng.uniform(size=n) < 0.04
    z_b = np.where(outlier, rng.uniform(0.05, 1.5, n), z_b)
    z_b = np.where(is_star, rng.uniform(0.01, 0.12, n), z_b)
    z_b = np.round(np.clip(z_b, 0.01, 3.5), 2)
    dz = np.round(np.clip(0.08 * (1 + z_b) * rng.uniform(0.6, 1.4, n), 0.01, None), 2)
    sg = np.where(is_star & (mag_true > 15.0) & (mag_true < 21.5) & (rng.uniform(size=n) < 0.95), 1, 0)
    return pd.DataFrame({
        "SG2DPHOT": sg.astype(np.int64),
        "COLOUR_GAAP_g_r": mags["g"] - mags["r"], "COLOUR_GAAP_r_i": mags["r"] - mags["i"],
        "MAG_GAAP_u": mags["u"], "MAG_GAAP_g": mags["g"], "MAG_GAAP_r": mags["r"], "MAG_GAAP_i": mags["i"],
        "MAGERR_GAAP_u": errs["u"], "MAGERR_GAAP_g": errs["g"], "MAGERR_GAAP_r": errs["r"],
        "MAGERR_GAAP_i": errs["i"],
        "Z_B": z_b, "Z_B_MIN": np.clip(z_b - dz, 0.0, None), "Z_B_MAX": z_b + dz,
    }, index=measured.index)


def _replace_measured_photometry(synthetic: pd.DataFrame, measured: pd.DataFrame, band_images: dict,
                                 pixel_scale_arcsec: float) -> None:
    """Put the matched-aperture magnitudes of the rendered bands, and the colours they give, in ``synthetic``."""
    from lensfinder.surveys.mock.photometry import matched_aperture_magnitudes

    deg_per_pix = pixel_scale_arcsec / 3600.0
    mags = matched_aperture_magnitudes(
        band_images, measured["x_pix"], measured["y_pix"],
        measured["A_WORLD"].to_numpy(dtype=float) / deg_per_pix, measured["B_WORLD"].to_numpy(dtype=float) / deg_per_pix,
        measured["THETA_J2000"].to_numpy(dtype=float) + 90.0, pixel_scale_arcsec)
    mags.index = synthetic.index
    if "g" in band_images and "u" not in band_images:
        # u is not rendered: keep its synthetic colour u - g on the measured g
        synthetic["MAG_GAAP_u"] = mags["MAG_GAAP_g"] + (synthetic["MAG_GAAP_u"] - synthetic["MAG_GAAP_g"])
    for col in mags.columns:
        if col in synthetic:
            synthetic[col] = mags[col]
    if {"g", "r"} <= set(band_images):
        synthetic["COLOUR_GAAP_g_r"] = mags["MAG_GAAP_g"] - mags["MAG_GAAP_r"]
    if {"r", "i"} <= set(band_images):
        synthetic["COLOUR_GAAP_r_i"] = mags["MAG_GAAP_r"] - mags["MAG_GAAP_i"]


def _finalise_catalog(catalog: pd.DataFrame, tile: str) -> pd.DataFrame:
    out = pd.DataFrame(index=catalog.index)
    for col, dtype in CATALOG_COLUMNS.items():
        if col in catalog:
            out[col] = catalog[col].astype(dtype)
        else:
            out[col] = pd.Series(dtype=dtype)
    return out.reset_index(drop=True)

