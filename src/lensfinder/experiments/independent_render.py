"""Rendering the independent test sets with lenstronomy, and the held-out survey hosts they use.

:func:`render_independent` draws every image's parameters
(:func:`lensfinder.experiments.independent.draw_row`) and renders them;
:func:`render_params` renders one parameter set, which the metadata row
carries whole (``params_json``), so :func:`render_from_metadata` re-creates
any image from its row (and the host cube, for the ``*_host`` kinds).

Units: lenstronomy works in e-/s at the band's zero point
(:data:`~lensfinder.experiments.independent.KIDS_BANDS`); the cubes are
counts at ``zeropoint_mag`` (30, as every simulated and mock-survey image).
``arc_snr`` is the matched-filter S/N of the lensed light in the detection
band, ``sqrt(sum(arc**2 / variance))`` over the stamp, with the variance of
the noise the image received (sky, read-out, Poisson of all light): for an
arc of uniform brightness it is the aperture S/N over the arc's pixels.
``arc_visible_snr`` is the same sum over the pixels where the arc is brighter
than the light of the other galaxies (the host stamp smoothed by a 1-pixel
Gaussian): an arc buried in its lens's light has a high ``arc_snr`` and none
of it here; no single-band search finds it (issue 13: a quarter of the lenses
above ``min_arc_snr`` 10 had ``arc_visible_snr`` 0).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from lensfinder.experiments.independent import KIDS_BANDS, IndependentSpec, draw_psf_bank, draw_row
from lensfinder.experiments.morphologies import morphology_image, psf_fwhm_arcsec, psf_kernel
from lensfinder.io import DEFAULT_BAND, InputError, cube_bands, read_cube, read_table, with_band_axis
from lensfinder.progress import progress

__all__ = ["HostPool", "render_params", "render_independent", "render_from_metadata", "METADATA_COLUMNS"]

log = logging.getLogger(__name__)

#: flat metadata columns (the rest of each image's parameters is in ``params_json``)
METADATA_COLUMNS = (
    "object_id", "is_lens", "kind", "recipe", "seed", "shard", "index", "attempt", "theta_E", "e1", "e2",
    "gamma1", "gamma2", "magnification", "source_morphology", "source_size_arcsec", "arc_mag", "arc_snr", "arc_visible_snr",
    "mag_lens",
    "lens_light_profile", "galaxy_morphology", "companion_distance_arcsec", "companion_mag", "companion_g_r",
    "companion_morphology", "psf_family",
    "psf_fwhm_arcsec", "host_file", "host_row", "host_object_id", "host_tile", "stamp_size", "pixel_scale_arcsec",
    "zeropoint_mag", "params_json",
)


class HostPool:
    """Survey stamps that host arcs and serve as negatives: early types of held-out tiles, no true lens.

    Parameters
    ----------
    cubes : sequence of path
        Stamp cubes ``{tile}.fits``, each beside its index ``{tile}.parquet``.
    host_flag : str
        Bool index column of the hosts (the LRG sample); empty: every stamp.
    truth : sequence of path, optional
        Mock-survey truth tables (``ID``, ``is_lens``): true lenses are left out.
    """

    def __init__(self, cubes, host_flag: str = "lrg_li2020", truth=()):
        import pandas as pd

        lenses = set()
        for path in truth:
            table = read_table(path, columns=["ID", "is_lens"])
            lenses |= set(table.loc[table["is_lens"].astype(bool), "ID"].astype(str))
        parts = []
        for cube in cubes:
            index_path = Path(cube).with_suffix(".parquet")
            index = read_table(index_path, required=["object_id", "psf_fwhm_arcsec", "zeropoint_mag"])
            keep = np.ones(len(index), bool)
            if host_flag:
                if host_flag not in index.columns:
                    raise InputError(f"{index_path}: {host_flag}: host flag column missing")
                keep &= index[host_flag].astype(bool).to_numpy()
            for column in ("edge",):
                if column in index.columns:
                    keep &= ~index[column].astype(bool).to_numpy()
            if "nan_fraction" in index.columns:
                keep &= index["nan_fraction"].to_numpy() == 0
            keep &= ~index["object_id"].astype(str).isin(lenses).to_numpy()
            rows = np.flatnonzero(keep)
            table = pd.DataFrame({"host_file": str(cube), "host_row": rows,
                                  "host_object_id": index["object_id"].astype(str).to_numpy()[rows],
                                  "host_tile": index["tile"].astype(str).to_numpy()[rows] if "tile" in index else "",
                                  "psf_fwhm_arcsec": index["psf_fwhm_arcsec"].to_numpy()[rows],
                                  "zeropoint_mag": index["zeropoint_mag"].to_numpy()[rows]})
            for column in index.columns:  # per-band zero points and PSF fits of multi-band stamps, if the index has them
                if column.startswith(("zeropoint_mag_", "psf_moffat_")):
                    table[column] = index[column].to_numpy()[rows]
            parts.append(table)
        self.table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        self.n_left_out_lenses = len(lenses)
        self._cubes = {}

    def __len__(self) -> int:
        return len(self.table)

    def bands(self, host_file: str) -> tuple:
        """Bands of a host cube (``BANDS`` header; r without it)."""
        return self._cube(host_file)[1]

    def _cube(self, host_file: str):
        if host_file not in self._cubes:
            images, header = read_cube(host_file, memmap=True)
            self._cubes[host_file] = (with_band_axis(images), cube_bands(header, host_file))
        return self._cubes[host_file]

    def image(self, host_file: str, host_row: int, band: str = DEFAULT_BAND) -> np.ndarray:
        """One band of one host stamp, float64 counts."""
        images, bands = self._cube(host_file)
        if band not in bands:
            raise InputError(f"{host_file}: band {band!r}: the host stamps hold {', '.join(bands)}")
        return np.array(images[int(host_row), bands.index(band)], dtype=np.float64)


def _band_setup(p: dict, band: str, kernel: np.ndarray) -> dict:
    b = KIDS_BANDS[band]
    return {"pixel_scale": p["render"]["pixel_scale_arcsec"], "exposure_time": b["exposure_time"],
            "num_exposures": b["num_exposures"], "magnitude_zero_point": b["magnitude_zero_point"],
            "read_noise": b["read_noise"], "sky_brightness": p["sky_brightness"][band], "psf_type": "PIXEL",
            "kernel_point_source": kernel, "data_count_unit": "e-"}


def _interpol(name: str, params: dict, size_arcsec: float, cps: float, x: float, y: float, wide: bool) -> dict:
    # galaxies on a 0.04" grid 20" wide; sources on a grid of 12 sizes with 128 pixels
    scale, n_pix = (0.04, 512) if wide else (12 * size_arcsec / 128, 128)
    image = morphology_image(name, params, scale, n_pix)
    return {"image": image, "amp": cps, "center_x": x, "center_y": y, "phi_G": 0.0, "scale": scale}


def _analytic_light(light: dict, cps: float) -> dict:
    from lenstronomy.LightModel.light_model import LightModel

    kwargs = dict(light["kwargs"])
    if light["profile"] == "MULTI_GAUSSIAN_ELLIPSE":  # amp = each Gaussian's total flux
        kwargs["amp"] = [a * cps for a in kwargs["amp"]]
    else:
        unit = LightModel([light["profile"]]).total_flux([{**kwargs, "amp": 1.0}], norm=True)[0]
        kwargs["amp"] = cps / unit
    return kwargs


def _unlensed(p: dict, sim, band: str):
    """Light models and keywords of the galaxies that are not lensed (cps of the band)."""
    profiles, kwargs = [], []
    mag = p["mag_lens"] + p["lens_colour"][band]
    if "lens_light" in p:
        profiles.append(p["lens_light"]["profile"])
        kwargs.append(_analytic_light(p["lens_light"], sim.magnitude2cps(mag)))
    if "galaxy" in p:
        profiles.append("INTERPOL")
        kwargs.append(_interpol(p["galaxy_morphology"], p["galaxy"], 1.0, sim.magnitude2cps(mag), 0.0, 0.0, True))
    if "companion" in p:
        c = p["companion"]
        profiles.append("INTERPOL")
        kwargs.append(_interpol(c["morphology"], c["params"], c["size_arcsec"],
                                sim.magnitude2cps(c["mag"] + c["colour"][band]), c["x"], c["y"], False))
    return profiles, kwargs


def _arc(p: dict, band_kwargs: dict, n_pix: int, supersampling: int, centre):
    """Lensed light of a unit-flux source (its sum: the magnification in the stamp), e-/s, and its
    lenstronomy simulation (for the noise)."""
    from lenstronomy.SimulationAPI.sim_api import SimAPI

    lens = p["lens"]
    model = {"lens_model_list": ["SIE", "SHEAR"], "source_light_model_list": ["INTERPOL"]}
    sim = SimAPI(n_pix, band_kwargs, model)
    kwargs_lens = [{"theta_E": lens["theta_E"], "e1": lens["e1"], "e2": lens["e2"], "center_x": centre[0],
                    "center_y": centre[1]}, {"gamma1": lens["gamma1"], "gamma2": lens["gamma2"], "ra_0": 0, "dec_0": 0}]
    source = _interpol(lens["source_morphology"], lens["source_params"], lens["source_size_arcsec"], 1.0,
                       centre[0] + lens["source_x"], centre[1] + lens["source_y"], False)
    image_model = sim.image_model_class({"supersampling_factor": supersampling})
    return image_model.image(kwargs_lens, [source], None, lens_light_add=False), sim


def _sky_sigma(image: np.ndarray) -> float:
    from astropy.stats import sigma_clipped_stats

    border = np.concatenate([image[:10].ravel(), image[-10:].ravel(), image[10:-10, :10].ravel(),
                             image[10:-10, -10:].ravel()])
    return float(sigma_clipped_stats(border[np.isfinite(border)], sigma=3.0)[2])


def _visible_snr(arc: np.ndarray, light: np.ndarray, variance: np.ndarray) -> float:
    """Matched-filter S/N of the arc over the pixels where it outshines the other light."""
    brighter = arc > light
    return float(np.sqrt(np.sum(arc[brighter] ** 2 / variance[brighter])))


def render_params(p: dict, hosts: HostPool | None = None):
    """Images of one parameter set, one per band, in counts.

    Returns
    -------
    images : dict
        band -> ``(stamp_size, stamp_size)`` float32.
    derived : dict
        ``arc_snr`` and ``arc_visible_snr`` (detection band; NaN for negatives) and ``psf_fwhm_arcsec``
        (detection band, GalSim's FWHM of the PSF before the pixel).
    """
    from lenstronomy.SimulationAPI.sim_api import SimAPI
    from scipy.ndimage import gaussian_filter

    r = p["render"]
    n_pix, scale, bands = r["stamp_size"], r["pixel_scale_arcsec"], r["bands"]
    images, derived = {}, {"arc_snr": float("nan"), "arc_visible_snr": float("nan")}
    on_host = p["kind"] in ("lens_host", "survey_host")
    for k, band in enumerate(bands):
        if on_host:
            host = np.rot90(hosts.image(p["host_file"], p["host_row"], band), p["aug_rot90"])
            host = host[:, ::-1] if p["aug_flip"] else host
        psf = {**p["psf"], "psf_dilation": p["psf"]["psf_dilation"] * KIDS_BANDS[band]["seeing_factor"]}
        kernel = psf_kernel(psf, scale, r["psf_kernel_pix"])
        if k == 0:
            derived["psf_fwhm_arcsec"] = psf_fwhm_arcsec(psf)
        band_kwargs = _band_setup(p, band, kernel)
        zp_out = p["host_zeropoint_mag"].get(band, p["host_zeropoint_mag"]["*"]) if on_host else r["zeropoint_mag"]
        to_counts = 10 ** (0.4 * (zp_out - KIDS_BANDS[band]["magnitude_zero_point"]))
        if on_host:
            image = host.copy()
            if p["is_lens"]:
                unit, sim = _arc(p, band_kwargs, n_pix, r["supersampling"], (0.0, 0.0))
                arc = unit * sim.magnitude2cps(p["lens"]["arc_mag"] + p["lens"]["source_colour"][band]) / unit.sum()
                # the arc's own Poisson noise; the host stamp carries the sky's
                noise = np.random.RandomState(p["noise_seed"] + k).randn(n_pix, n_pix) * sim.flux_noise(arc)
                image += (arc + noise) * to_counts
                if k == 0:
                    signal = arc * to_counts
                    electrons_per_count = sim.flux_iid(1.0) / to_counts
                    variance = _sky_sigma(host) ** 2 + (np.maximum(host, 0) + signal) / electrons_per_count
                    derived["arc_snr"] = float(np.sqrt(np.sum(signal**2 / variance)))
                    light = np.maximum(gaussian_filter(host, 1.0), 0.0)
                    derived["arc_visible_snr"] = _visible_snr(signal, light, variance)
        else:
            profiles, kwargs = _unlensed(p, SimAPI(n_pix, band_kwargs, {}), band)
            sim = SimAPI(n_pix, band_kwargs, {"lens_light_model_list": profiles})
            model = sim.image_model_class({"supersampling_factor": r["supersampling"]}).image(
                None, None, kwargs, source_add=False)
            arc = np.zeros_like(model)
            if p["is_lens"]:
                centre = (p["lens_light"]["kwargs"]["center_x"], p["lens_light"]["kwargs"]["center_y"])
                unit, _ = _arc(p, band_kwargs, n_pix, r["supersampling"], centre)
                arc = unit * sim.magnitude2cps(p["lens"]["arc_mag"] + p["lens"]["source_colour"][band]) / unit.sum()
            total = model + arc
            image = (total + sim.noise_for_model(total, seed=p["noise_seed"] + k)) * to_counts
            if k == 0 and p["is_lens"]:
                variance = sim.estimate_noise(total) ** 2
                derived["arc_snr"] = float(np.sqrt(np.sum(arc**2 / variance)))
                derived["arc_visible_snr"] = _visible_snr(arc, model, variance)
        images[band] = image.astype(np.float32)
    return images, derived


def _complete(p: dict, spec: IndependentSpec, bank: list, hosts: HostPool | None) -> dict:
    """A drawn row with what rendering needs from outside it: the PSF, the host, the grid."""
    p = dict(p)
    p["render"] = {"stamp_size": spec.stamp_size, "pixel_scale_arcsec": spec.pixel_scale_arcsec,
                   "zeropoint_mag": spec.zeropoint_mag, "bands": list(spec.bands),
                   "supersampling": spec.supersampling, "psf_kernel_pix": spec.psf_kernel_pix}
    p["psf"] = dict(bank[p["psf_index"]])
    if "host_index" in p:
        host = hosts.table.iloc[p["host_index"]]
        p.update(host_file=str(host["host_file"]), host_row=int(host["host_row"]),
                 host_object_id=str(host["host_object_id"]), host_tile=str(host["host_tile"]),
                 host_zeropoint_mag={"*": float(host["zeropoint_mag"]),
                                     **{c[len("zeropoint_mag_"):]: float(host[c]) for c in host.index
                                        if c.startswith("zeropoint_mag_")}})
        # the host tile's Moffat fits per band (the stamp index's), as a search knows them: columns of the row
        p["host_psf_moffat"] = {c: float(host[c]) for c in host.index if c.startswith("psf_moffat_")}
        # the arc gets the PSF family of the bank, dilated to the host's seeing
        p["psf"]["psf_dilation"] = float(host["psf_fwhm_arcsec"]) / psf_fwhm_arcsec(p["psf"])
    if "galaxy" in p:
        p["galaxy_morphology"] = {"irregular": "clumpy"}.get(p["kind"], p["kind"])
    return p


def _g_minus_r(colour: dict) -> float:
    """g - r of a component from its per-band magnitude offsets (NaN without both bands)."""
    return float(colour["g"] - colour["r"]) if "g" in colour and "r" in colour else np.nan


def _flat(p: dict, derived: dict) -> dict:
    lens, comp = p.get("lens", {}), p.get("companion", {})
    row = {k: p.get(k) for k in ("object_id", "is_lens", "kind", "recipe", "seed", "shard", "index", "attempt",
                                 "mag_lens", "galaxy_morphology", "host_file", "host_row", "host_object_id",
                                 "host_tile")}
    row.update({k: lens.get(k, np.nan) for k in ("theta_E", "e1", "e2", "gamma1", "gamma2", "magnification",
                                                  "source_size_arcsec", "arc_mag")})
    row.update(source_morphology=lens.get("source_morphology"), arc_snr=derived["arc_snr"],
               arc_visible_snr=derived["arc_visible_snr"],
               lens_light_profile=p.get("lens_light", {}).get("profile"),
               companion_distance_arcsec=comp.get("distance_arcsec", np.nan), companion_mag=comp.get("mag", np.nan),
               companion_g_r=_g_minus_r(comp.get("colour", {})), companion_morphology=comp.get("morphology"),
               psf_family=p["psf"]["psf_family"], psf_fwhm_arcsec=derived["psf_fwhm_arcsec"],
               stamp_size=p["render"]["stamp_size"], pixel_scale_arcsec=p["render"]["pixel_scale_arcsec"],
               zeropoint_mag=p.get("host_zeropoint_mag", {}).get("*", p["render"]["zeropoint_mag"]),
               params_json=json.dumps(p))
    row.update(p.get("host_psf_moffat", {}))  # NaN in the table for images without a survey host
    return row


def render_independent(spec: IndependentSpec, seed: int, shard: int, n: int, hosts: HostPool | None = None):
    """``n`` images of one shard: ``({band: cube}, metadata table)``; lenses redrawn below ``min_arc_snr`` or
    ``min_visible_arc_snr``; host stamps used for ``host_fraction`` of the images, at most about
    ``max_host_copies`` times each."""
    import pandas as pd

    n_hosts = len(hosts) if hosts is not None else 0
    for host_file in (hosts.table["host_file"].unique() if n_hosts else ()):
        missing = [b for b in spec.bands if b not in hosts.bands(host_file)]
        if missing:
            raise InputError(f"{host_file}: the host stamps lack band(s) {', '.join(missing)} of the set's bands "
                             f"{', '.join(spec.bands)}")
    host_probability = min(spec.host_fraction, spec.max_host_copies * n_hosts / max(n, 1))
    bank = draw_psf_bank(spec, seed, shard)
    cubes = {b: np.zeros((n, spec.stamp_size, spec.stamp_size), np.float32) for b in spec.bands}
    rows = []
    for index in progress(range(n), desc=f"independent shard {shard}", unit="image"):
        for attempt in range(50):
            p = _complete(draw_row(spec, seed, shard, index, n_hosts, attempt, host_probability), spec, bank, hosts)
            images, derived = render_params(p, hosts)
            if not p["is_lens"] or (derived["arc_snr"] >= spec.min_arc_snr
                                    and derived["arc_visible_snr"] >= spec.min_visible_arc_snr):
                break
        else:
            raise InputError(f"independent set: image {index}: no arc reached min_arc_snr {spec.min_arc_snr} "
                             f"and min_visible_arc_snr {spec.min_visible_arc_snr} in 50 draws")
        for band, image in images.items():
            cubes[band][index] = image
        rows.append(_flat(p, derived))
    fits = sorted({c for row in rows for c in row if c.startswith("psf_moffat_")})  # images on survey hosts
    table = pd.DataFrame(rows, columns=[*METADATA_COLUMNS, *fits])
    log.info("shard %d: %d images (%d lenses), kinds %s", shard, n, int(table["is_lens"].sum()),
             table["kind"].value_counts().to_dict())
    return cubes, table


def render_from_metadata(row, hosts: HostPool | None = None) -> dict:
    """Re-create one image (band -> array) from its metadata row."""
    p = json.loads(row["params_json"])
    if p["kind"] in ("lens_host", "survey_host") and hosts is None:
        hosts = HostPool([], host_flag="")
    return render_params(p, hosts)[0]
