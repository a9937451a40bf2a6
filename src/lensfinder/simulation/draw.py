"""Per-image parameter draws: one metadata row per image from its own generator.

:func:`draw_image_params` draws image ``index`` of a shard from
``default_rng(SeedSequence([seed, shard, index]))``: lens or negative,
Sersic components, PSF and noise level; semi-real rows: a host stamp
(:func:`lensfinder.simulation.semireal.draw_host`), an arc and the augmentation.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from lensfinder.io import InputError
from lensfinder.simulation.components import uniform
from lensfinder.simulation.epsf import epsf_columns
from lensfinder.simulation.lensing import (
    phi_q_to_e1e2,
    sersic_b_n,
    sersic_total_flux,
    shear_deflection,
    sie_coefficients,
    sie_deflection_core,
    sis_deflection,
    tangential_caustic,
)
from lensfinder.simulation.optics import mag_to_counts, sky_sigma_for_depth, sky_sigma_for_snr, snr_he2020
from lensfinder.simulation.metadata import SERSIC_KEYS
from lensfinder.simulation.recipes import Recipe
from lensfinder.simulation.semireal import draw_augmentation, draw_host
from lensfinder.simulation.sources import disk_source_offset, draw_lens_systems, with_counter_image

__all__ = ["draw_image_params", "draw_lens", "lens_population"]


def _n_sersic(rng, p: Recipe, lo_hi):
    """Sersic index of a lens light or source (``sersic_n_distribution``)."""
    if p.sersic_n_distribution == "huertas_company":
        from lensfinder.simulation.populations import huertas_company_n

        return huertas_company_n(rng, tuple(lo_hi))
    return uniform(rng, lo_hi)


def _ellipse(rng, q_range):
    """Random position angle (uniform in [0, 180) deg) and q; returns q, phi_rad, e1, e2."""
    q = uniform(rng, q_range)
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


def lens_population(p: Recipe):
    """The :class:`~lensfinder.simulation.populations.LensPopulation` of a recipe (cached)."""
    try:
        return _population(p.cosmo_h, p.cosmo_Om0, p.cosmo_Ob0, p.cosmo_sigma8, p.cosmo_ns,
                           tuple(p.theta_E_arcsec), tuple(p.halo_mass_range_msun), p.redshift_weighting)
    except ValueError as exc:
        raise InputError(f"--set: theta_E_arcsec/halo_mass_range_msun: {exc}") from exc


def _physical_lens(rng, p: Recipe):
    """z_d, z_s, M200, sigma, theta_E and r magnitude of a lens from He et al. 2020, eq. 10-15."""
    from lensfinder.simulation.populations import faber_jackson_abs_mag_r, k_correction_elliptical_r

    pop = lens_population(p)
    lens = pop.draw(rng)
    cosmo = pop.cosmology
    lens["mag_lens"] = float(faber_jackson_abs_mag_r(lens["sigma_km_s"]) + cosmo.distance_modulus(lens["z_d"])
                             + k_correction_elliptical_r(lens["z_d"]))
    return lens


def _central_mag(rng, p: Recipe):
    if p.negative_mag_model == "lens_population":
        return _physical_lens(rng, p)["mag_lens"]
    return uniform(rng, p.lens_mag)


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


def _center(rng, p: Recipe):
    """Lens or central galaxy position: uniform in the disk of radius ``lens_center_offset_arcsec``."""
    r_off = p.lens_center_offset_arcsec * math.sqrt(rng.uniform())
    t_off = rng.uniform(0, 2 * np.pi)
    return r_off * math.cos(t_off), r_off * math.sin(t_off)


def draw_lens(rng, p: Recipe) -> dict:
    """A lens row: mass (SIE + shear, subhaloes), lens light and lensed source."""
    row: dict = {"kind": "lens", "is_lens": True}
    q, phi, e1, e2 = _ellipse(rng, p.lens_q)
    cx, cy = _center(rng, p)
    if p.lens_model == "he2020":
        phys = _physical_lens(rng, p)
        theta_E = phys["theta_E"]
        mag_lens = phys["mag_lens"]
        mu, sd = p.lens_light_log10_Re_over_theta_E
        R_lens = float(theta_E * 10.0 ** rng.normal(mu, sd)) if sd > 0 else float(theta_E * 10.0**mu)
        row.update({k: phys[k] for k in ("z_d", "z_s", "m200_msun", "sigma_km_s")})
    else:
        if p.theta_E_distribution == "log_uniform":
            lo, hi = p.theta_E_arcsec
            theta_E = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        else:
            theta_E = uniform(rng, p.theta_E_arcsec)
        mag_lens = uniform(rng, p.lens_mag)
        R_lens = uniform(rng, p.lens_light_R_sersic_arcsec)
        phys = None
    gamma = uniform(rng, p.shear_gamma)
    phi_shear = rng.uniform(0, np.pi)
    row.update({"theta_E": theta_E, "e1": e1, "e2": e2, "center_x": cx, "center_y": cy,
                "gamma1": gamma * math.cos(2 * phi_shear), "gamma2": gamma * math.sin(2 * phi_shear),
                "lens_q": q, "lens_phi_deg": math.degrees(phi)})
    if p.subhaloes and phys is not None:
        from lensfinder.simulation.populations import subhalo_population

        pop = lens_population(p)
        subs = subhalo_population(rng, pop.cosmology, phys["m200_msun"], phys["z_d"], phys["dds_over_ds"],
                                  tuple(p.subhalo_mass_fraction), p.subhalo_mass_floor_msun, p.subhalo_n_bins)
        subs["subhalo_center_x"] = [v + cx for v in subs["subhalo_center_x"]]
        subs["subhalo_center_y"] = [v + cy for v in subs["subhalo_center_y"]]
        row.update(subs)
    # lens light: same centre, q and angle as the halo (section 3.2)
    n_lens = _n_sersic(rng, p, p.lens_light_n_sersic)
    zp = p.zeropoint_mag
    row.update(_sersic_component("lens_light", float(mag_to_counts(mag_lens, zp)), R_lens, n_lens, e1, e2, cx, cy))
    row["mag_lens"] = mag_lens
    # source
    R_src = uniform(rng, p.source_R_sersic_arcsec)
    n_src = _n_sersic(rng, p, p.source_n_sersic)
    _, _, se1, se2 = _ellipse(rng, p.source_q)
    if p.source_mag_model == "benitez":
        from lensfinder.simulation.populations import source_mag_distribution

        z_s = row.get("z_s", 1.0)
        mags, cdf = source_mag_distribution(float(z_s), tuple(p.source_mag))
        mag_src = float(np.interp(rng.uniform(), cdf, mags))
    else:
        mag_src = uniform(rng, p.source_mag)
    sx = sy = None
    if p.source_position == "caustic":
        caustic_x, caustic_y = tangential_caustic(_deflection_fn(row), theta_E, cx, cy, n_points=64, n_iter=25)
        ok = np.flatnonzero(np.isfinite(caustic_x))
        if len(ok):
            k = ok[int(rng.integers(len(ok)))]
            r, t = R_src * math.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            sx, sy = float(caustic_x[k] + r * math.cos(t)), float(caustic_y[k] + r * math.sin(t))
    if sx is None:  # disk placement (or no caustic found)
        r, t = disk_source_offset(rng, p, theta_E)
        if p.source_min_counter_magnification > 0:
            lens = {k: row[k] for k in ("theta_E", "e1", "e2", "center_x", "center_y", "gamma1", "gamma2")}
            r, t = with_counter_image(rng, p, lens, r, t)
        sx, sy = cx + r * math.cos(t), cy + r * math.sin(t)
    row.update(_sersic_component("source", float(mag_to_counts(mag_src, zp)), R_src, n_src, se1, se2, sx, sy))
    row["mag_source"] = mag_src
    return row


def _draw_negative(rng, p: Recipe, kind):
    row: dict = {"kind": kind, "is_lens": False}
    zp = p.zeropoint_mag
    mag = _central_mag(rng, p)
    row["mag_lens"] = mag
    counts = float(mag_to_counts(mag, zp))
    cx, cy = _center(rng, p)
    if kind in ("elliptical", "elliptical_pair"):
        _, _, e1, e2 = _ellipse(rng, p.elliptical_q)
        row.update(_sersic_component("lens_light", counts, uniform(rng, p.elliptical_R_sersic_arcsec),
                                     uniform(rng, p.elliptical_n_sersic), e1, e2, cx, cy))
        if kind == "elliptical_pair":
            half = (p.stamp_size - 1) / 2 * p.pixel_scale_arcsec - 1.0
            while True:
                px, py = rng.uniform(-half, half), rng.uniform(-half, half)
                if math.hypot(px - cx, py - cy) >= p.companion_min_distance_arcsec:
                    break
            mag2 = mag + uniform(rng, p.companion_mag_offset)
            _, _, e1b, e2b = _ellipse(rng, p.elliptical_q)
            row.update(_sersic_component("companion", float(mag_to_counts(mag2, zp)),
                                         uniform(rng, p.companion_R_sersic_arcsec),
                                         uniform(rng, p.elliptical_n_sersic), e1b, e2b, float(px), float(py)))
            row["mag_companion"] = mag2
    elif kind == "elongated":
        _, _, e1, e2 = _ellipse(rng, p.elongated_q)
        row.update(_sersic_component("lens_light", counts, uniform(rng, p.elongated_R_sersic_arcsec),
                                     uniform(rng, p.elongated_n_sersic), e1, e2, cx, cy))
    elif kind == "bulge_disk":
        bd = uniform(rng, p.bulge_to_disk)
        _, _, e1, e2 = _ellipse(rng, p.bulge_q)
        _, _, de1, de2 = _ellipse(rng, p.disk_q)
        row.update(_sersic_component("lens_light", counts * bd / (1 + bd), uniform(rng, p.bulge_disk_R_sersic_arcsec),
                                     uniform(rng, p.bulge_n_sersic), e1, e2, cx, cy))
        row.update(_sersic_component("disk", counts / (1 + bd), uniform(rng, p.bulge_disk_R_sersic_arcsec),
                                     uniform(rng, p.disk_n_sersic), de1, de2, cx, cy))
        row["bulge_to_disk"] = bd
    else:  # the sky's confusers (opt-in for the papers' recipes): the per-block drawer, one image
        from lensfinder.simulation.components import Group
        from lensfinder.simulation.confusers import draw_negatives

        g, at = Group(1), (np.array([counts]), np.array([cx]), np.array([cy]))
        if kind == "near_miss":
            draw_lens_systems(rng, p, g, *at, near_miss=True)
        else:
            draw_negatives(rng, p, kind, g, *at)
        row.update({k: (v[0].item() if hasattr(v[0], "item") else v[0]) for k, v in g.columns.items()})
        row.update({k: v[0] for k, v in g.lists.lists().items()})
    return row


def _aperture_snr_inputs(row, pixel_scale, zeropoint_mag):
    """Foreground-galaxy counts inside the S/N aperture and its pixel count (analytic)."""
    from scipy.special import gammainc

    comps = [c for c in ("lens_light", "disk") if np.isfinite(row.get(f"{c}_amp", np.nan))]
    if not comps:  # a star: its counts, in 1"
        return float(mag_to_counts(row["mag_lens"], zeropoint_mag)), math.pi / pixel_scale**2
    r_ap = max(2.0 * max(row[f"{c}_R_sersic"] for c in comps), 1.0)
    flux = 0.0
    for c in comps:
        n, R = row[f"{c}_n_sersic"], row[f"{c}_R_sersic"]
        total = float(sersic_total_flux(row[f"{c}_amp"], R, n))
        flux += total * float(gammainc(2 * n, sersic_b_n(n) * (r_ap / R) ** (1.0 / n)))
    return flux, math.pi * r_ap**2 / pixel_scale**2


def _noise_level(rng, p: Recipe, row):
    """Sky sigma (counts per pixel) and the foreground galaxy's S/N."""
    flux_ap, n_ap = _aperture_snr_inputs(row, p.pixel_scale_arcsec, p.zeropoint_mag)
    gain = p.gain
    if p.noise_model == "snr_he2020":
        snr = float(snr_he2020(row["mag_lens"]) * uniform(rng, p.snr_scatter))  # He et al. 2020, eq. 17
        sky = float(sky_sigma_for_snr(flux_ap, n_ap, snr, gain, floor=0.01))
    else:
        sky = float(sky_sigma_for_depth(uniform(rng, p.depth_mag_5sigma), p.zeropoint_mag, p.pixel_scale_arcsec))
    return sky, flux_ap / math.sqrt(flux_ap / gain + n_ap * sky**2)


def _draw_semireal(rng, p: Recipe, is_lens):
    """A semi-real row: a host stamp (augmented) and, for a lens, an arc (amplitude fixed later)."""
    host, disk = draw_host(rng, p, is_lens)
    if not is_lens:
        return {"kind": "host_disk" if disk else "host", "is_lens": False, **host}
    row = draw_lens(rng, p)
    for k in SERSIC_KEYS:  # the host is the lens galaxy
        row.pop(f"lens_light_{k}")
    row.pop("mag_lens")
    row.update(host)
    # source substructure: small round Sersic clumps near the source centre
    src_flux = float(sersic_total_flux(row["source_amp"], row["source_R_sersic"], row["source_n_sersic"]))
    lo, hi = p.source_clumps
    clumps = {f"clump_{k}": [] for k in ("amp", "R_sersic", "n_sersic", "center_x", "center_y")}
    for _ in range(int(rng.integers(int(lo), int(hi) + 1))):
        R = uniform(rng, p.clump_R_sersic_arcsec)
        n = float(rng.uniform(0.5, 1.5))
        r, t = 1.5 * row["source_R_sersic"] * math.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        frac = uniform(rng, p.clump_flux_fraction)
        clumps["clump_amp"].append(frac * src_flux / float(sersic_total_flux(1.0, R, n)))
        clumps["clump_R_sersic"].append(R)
        clumps["clump_n_sersic"].append(n)
        clumps["clump_center_x"].append(row["source_center_x"] + r * math.cos(t))
        clumps["clump_center_y"].append(row["source_center_y"] + r * math.sin(t))
    row.update(clumps)
    row["grf_seed"] = int(rng.integers(2**63))
    row["grf_deflection_rms_arcsec"] = uniform(rng, p.grf_deflection_rms_arcsec)
    if p.arc_brightness == "flux_ratio":
        row["arc_flux_ratio"] = uniform(rng, p.arc_flux_ratio)
        row["host_flux_radius_arcsec"] = float(p.host_flux_radius_arcsec)
    elif p.arc_brightness == "arc_snr":
        lo, hi = p.arc_snr
        row["arc_snr_target"] = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    else:
        row["arc_peak_ratio"] = uniform(rng, p.arc_peak_ratio)
    return row


def draw_image_params(recipe: Recipe, seed: int, shard: int, index: int, set_name: str = "sim",
                      noiseless: bool = False) -> dict:
    """All parameters of image ``index`` of shard ``shard`` (one metadata row).

    Parameters
    ----------
    recipe : Recipe
        From :func:`lensfinder.simulation.recipes.recipe_params` (semi-real:
        with the host stamps' geometry, see :func:`lensfinder.simulation.shards.simulate_shard`).
    seed, shard, index : int
        ``draw_scheme=per_image``: the image's generator is
        ``default_rng(SeedSequence([seed, shard, index]))``; ``per_block``: the
        row of its block (:func:`lensfinder.simulation.batch.draw_block`, one
        block drawn per call: use :func:`lensfinder.simulation.shards.draw_table`
        for many). The noise comes from the counter-based stream of
        ``image_seed`` (recorded; :mod:`lensfinder.simulation.compiled`).
    set_name : str
        Prefix of ``object_id``.
    noiseless : bool
        Recorded in the row's ``noiseless`` column.

    Returns
    -------
    dict
        Column -> value (:func:`lensfinder.simulation.metadata.rows_to_frame` makes the table).
    """
    p = recipe
    if p.draw_scheme == "per_block":  # the row of its block (lensfinder.simulation.batch)
        from lensfinder.simulation.batch import draw_block

        return {k: v for k, v in draw_block(p, seed, shard, [index], set_name, noiseless).iloc[0].items()}
    ss = np.random.SeedSequence([int(seed), int(shard), int(index)])
    rng = np.random.default_rng(ss)
    image_seed = int(ss.generate_state(1, dtype=np.uint64)[0])
    f = p.lens_fraction
    is_lens = math.floor((index + 1) * f) > math.floor(index * f)  # exact fraction, no randomness
    if p.semi_real:
        row = _draw_semireal(rng, p, is_lens)
        # the arc takes the host's seeing; noise: the arc's own Poisson noise (the host has its noise)
        psf, sky, snr = round(row.pop("psf_fwhm_host"), 3), 0.0, float("nan")
        tile = row.pop("host_tile")
        row.update(draw_augmentation(rng, p))
        if p.psf_model == "epsf":
            row.update(epsf_columns(p, tile))
    elif is_lens:
        row = draw_lens(rng, p)
    else:
        kinds = list(p.negative_mix)
        w = np.array([p.negative_mix[k] for k in kinds], dtype=float)
        row = _draw_negative(rng, p, kinds[int(rng.choice(len(kinds), p=w / w.sum()))])
    if not p.semi_real:
        # on a 0.001" grid, so that PSF kernels can be cached (optics.gaussian_taps)
        psf = round(uniform(rng, p.psf_fwhm_arcsec), 3)
        sky, snr = _noise_level(rng, p, row)
    moffat = p.psf_model == "moffat" and not p.semi_real
    beta = round(uniform(rng, p.psf_moffat_beta), 3) if moffat else float("nan")
    if is_lens and not p.semi_real and p.source_brightness == "arc_snr":
        lo, hi = p.arc_snr
        row["arc_snr_target"] = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    psf_model = "moffat" if moffat else ("epsf" if p.semi_real and p.psf_model == "epsf" else "gaussian")
    row.update({
        "object_id": f"{set_name}-{seed}-{shard}-{index}", "recipe": p.name, "seed": int(seed), "shard": int(shard),
        "index": int(index), "image_seed": image_seed, "stamp_size": int(p.stamp_size),
        "pixel_scale_arcsec": float(p.pixel_scale_arcsec), "zeropoint_mag": float(p.zeropoint_mag),
        "psf_fwhm_arcsec": psf, "psf_truncation_sigma": float(p.psf_truncation_sigma),
        "psf_model": psf_model, "psf_beta": beta,
        "psf_radius_arcsec": float(p.psf_moffat_radius_arcsec) if moffat else float("nan"),
        "light_supersampling": int(p.light_supersampling),
        "light_supersampling_radius_pix": int(p.light_supersampling_radius_pix),
        "light_supersampling_levels": int(p.light_supersampling_levels),
        "sky_sigma": sky, "gain": float(p.gain), "snr": snr, "noiseless": bool(noiseless),
    })
    return row
