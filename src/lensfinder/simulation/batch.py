"""Per-block draws (``draw_scheme=per_block``): the metadata of 256 images at a time, vectorised.

Image ``i`` of a shard belongs to block ``i // BLOCK_SIZE``; the block's
generators come from ``SeedSequence([seed, shard], spawn_key=(crc32(set), block))``:
child 0 draws the negative kinds and the noise seeds, child ``1 + k`` the
images of kind ``k`` (``lens`` and :data:`~lensfinder.simulation.recipes.NEGATIVE_KINDS`),
so a kind's images do not change with another kind's settings. A block is
always drawn whole, so an image does not depend on the shard's size; the
row stores every parameter, so :func:`lensfinder.simulation.render.render_from_metadata`
re-creates it alone (``docs/simulation.md``, draw schemes).
"""

from __future__ import annotations

import zlib

import numpy as np

from lensfinder.simulation.components import DETECTION_BAND, Group, Ragged, uniform
from lensfinder.simulation.confusers import add_field_galaxies, draw_negatives
from lensfinder.simulation.lensing import sersic_b_n, sersic_total_flux
from lensfinder.simulation.optics import mag_to_counts, sky_sigma_for_depth, sky_sigma_for_snr, snr_he2020
from lensfinder.simulation.recipes import NEGATIVE_KINDS, Recipe
from lensfinder.simulation.sources import draw_lens_systems

__all__ = ["BLOCK_SIZE", "KIND_GROUPS", "block_generators", "draw_block", "draw_block_columns"]

#: Images per block of generators.
BLOCK_SIZE = 256
#: The kinds in their order of generators (``lens`` first).
KIND_GROUPS = ("lens",) + NEGATIVE_KINDS

def block_generators(seed: int, shard: int, block: int, set_name: str = "sim", stream: str = ""):
    """The block's generators: ``[own] + [one per KIND_GROUPS]``; ``stream`` (a mix member's recipe, where
    several members draw by block) gives a member generators of its own."""
    key = zlib.crc32((f"{set_name}/{stream}" if stream else set_name).encode())
    base = np.random.SeedSequence([int(seed), int(shard)], spawn_key=(key, int(block)))
    return [np.random.default_rng(s) for s in base.spawn(1 + len(KIND_GROUPS))]


def _aperture_snr(p: Recipe, columns, sky):
    """S/N of the central galaxy in an aperture of radius max(2 R_e, 1") (the ``snr`` column)."""
    from scipy.special import gammainc

    comps = [c for c in ("lens_light", "disk") if f"{c}_amp" in columns]
    R = {c: np.nan_to_num(columns[f"{c}_R_sersic"], nan=0.0) for c in comps}
    r_ap = np.maximum(2.0 * np.max([R[c] for c in comps] + [np.zeros(len(sky))], axis=0), 1.0)
    flux = np.zeros(len(sky)) if comps else mag_to_counts(columns["mag_lens"], p.zeropoint_mag)  # a star
    for c in comps:
        amp, n = np.nan_to_num(columns[f"{c}_amp"], nan=0.0), np.nan_to_num(columns[f"{c}_n_sersic"], nan=1.0)
        Rc = np.where(R[c] > 0, R[c], 1.0)
        flux += sersic_total_flux(amp, Rc, n) * gammainc(2 * n, sersic_b_n(n) * (r_ap / Rc) ** (1.0 / n))
    n_ap = np.pi * r_ap**2 / p.pixel_scale_arcsec**2
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.where(flux > 0, flux / np.sqrt(flux / p.gain + n_ap * np.asarray(sky) ** 2), np.nan)
    return snr, flux, n_ap


def _observation(rng, p: Recipe, g: Group):
    """PSF, sky noise and the central galaxy's S/N. FWHMs are drawn on a 0.001" grid (Gaussian
    taps are cached) or, for Moffat PSFs, on 0.01" with beta on 0.05 (kernels are cached);
    ``psf_moffat_fraction`` > 0 with Gaussian PSFs makes that fraction of the images Moffat."""
    n = g.n
    if p.psf_model == "gaussian" and p.psf_moffat_fraction > 0:  # a mix: Moffat with odds psf_moffat_fraction
        moffat = rng.uniform(size=n) < p.psf_moffat_fraction
    else:
        moffat = np.full(n, p.psf_model == "moffat")
    psf = uniform(rng, p.psf_fwhm_arcsec, n)
    psf = np.where(moffat, np.round(psf, 2), np.round(psf, 3))
    beta = np.full(n, np.nan)
    if moffat.any():  # drawn only then: the streams of Gaussian-only blocks are as they were
        beta = np.where(moffat, np.round(uniform(rng, p.psf_moffat_beta, n) * 20) / 20, np.nan)
    if p.noise_model == "snr_he2020":  # He et al. 2020, eq. 17
        _, flux, n_ap = _aperture_snr(p, g.columns, np.zeros(n))
        mag = np.nan_to_num(g.columns["mag_lens"], nan=25.0)
        target = snr_he2020(mag) * uniform(rng, p.snr_scatter, n)
        sky = sky_sigma_for_snr(np.maximum(flux, 1e-9), n_ap, target, p.gain, floor=0.01)
    else:
        sky = sky_sigma_for_depth(uniform(rng, p.depth_mag_5sigma, n), p.zeropoint_mag, p.pixel_scale_arcsec)
    g.update({"psf_fwhm_arcsec": psf, "psf_beta": beta, "sky_sigma": np.asarray(sky, dtype=float),
              "snr": _aperture_snr(p, g.columns, sky)[0],
              "psf_model": np.where(moffat, "moffat", "gaussian").astype(object),
              "psf_radius_arcsec": np.where(moffat, p.psf_moffat_radius_arcsec, np.nan)})


def draw_block_columns(p: Recipe, seed: int, shard: int, block: int, set_name: str = "sim", noiseless: bool = False,
                       bands=(DETECTION_BAND,), stream: str = ""):
    """The metadata columns of the ``BLOCK_SIZE`` images of one block.

    Returns
    -------
    columns : dict
        Column -> array of ``BLOCK_SIZE`` values (absent columns: not drawn in this block).
    lists : dict
        List column -> list (one per image) of float lists.
    """
    size = BLOCK_SIZE
    index = block * size + np.arange(size)
    f = p.lens_fraction
    is_lens = np.floor((index + 1) * f) > np.floor(index * f)  # exact fraction, no randomness
    own, *kind_rngs = block_generators(seed, shard, block, set_name, stream)
    image_seed = own.integers(0, 2**64, size, dtype=np.uint64)
    neg_kinds = list(p.negative_mix)
    w = np.array([p.negative_mix[k] for k in neg_kinds], dtype=float)
    kind = np.where(is_lens, "lens", np.asarray(neg_kinds, dtype=object)[own.choice(len(w), size=size, p=w / w.sum())])
    columns: dict = {"kind": kind.astype(object), "is_lens": is_lens}
    lists = Ragged(size)
    for name, rng in zip(KIND_GROUPS, kind_rngs):
        pos = np.flatnonzero(kind == name)
        if not len(pos):
            continue
        g = Group(len(pos), bands)
        r_off = p.lens_center_offset_arcsec * np.sqrt(rng.uniform(size=g.n))
        t_off = rng.uniform(0.0, 2.0 * np.pi, g.n)
        cx, cy = r_off * np.cos(t_off), r_off * np.sin(t_off)
        counts = mag_to_counts(uniform(rng, p.lens_mag, g.n), p.zeropoint_mag)
        if name in ("lens", "near_miss"):
            draw_lens_systems(rng, p, g, counts, cx, cy, near_miss=name == "near_miss")
        else:
            draw_negatives(rng, p, name, g, counts, cx, cy)
        add_field_galaxies(rng, p, g)
        _observation(rng, p, g)
        for key, value in g.columns.items():
            value = np.asarray(value)
            if key not in columns:
                columns[key] = np.full(size, np.nan) if value.dtype.kind == "f" else np.full(size, "", dtype=object)
            columns[key][pos] = value
        for owner, cols in g.lists.chunks:
            lists.add(pos[owner], cols)
    moffat = p.psf_model == "moffat"
    columns.update({
        "object_id": np.array([f"{set_name}-{seed}-{shard}-{i}" for i in index], dtype=object),
        "recipe": np.full(size, p.name, dtype=object), "seed": np.full(size, int(seed)),
        "shard": np.full(size, int(shard)), "index": index, "image_seed": image_seed,
        "stamp_size": np.full(size, int(p.stamp_size)), "pixel_scale_arcsec": np.full(size, p.pixel_scale_arcsec),
        "zeropoint_mag": np.full(size, p.zeropoint_mag), "psf_truncation_sigma": np.full(size, p.psf_truncation_sigma),
        "light_supersampling": np.full(size, int(p.light_supersampling)),
        "light_supersampling_radius_pix": np.full(size, int(p.light_supersampling_radius_pix)),
        "light_supersampling_levels": np.full(size, int(p.light_supersampling_levels)),
        "gain": np.full(size, p.gain), "noiseless": np.full(size, bool(noiseless)),
    })
    columns.setdefault("psf_model", np.full(size, "moffat" if moffat else "gaussian", dtype=object))
    return columns, lists.lists()


def draw_block(p: Recipe, seed: int, shard: int, indices, set_name: str = "sim", noiseless: bool = False,
               bands=(DETECTION_BAND,), stream: str = ""):
    """The metadata table of images ``indices`` (any, ascending) of a shard, block by block
    (``stream``: :func:`block_generators`).

    Returns
    -------
    pandas.DataFrame
        :func:`lensfinder.simulation.metadata.columns_to_frame` of the rows, in the order of ``indices``.
    """
    from lensfinder.simulation.metadata import LIST_COLUMNS, columns_to_frame

    indices = np.asarray(indices, dtype=np.int64)
    parts = []
    for block in np.unique(indices // BLOCK_SIZE):
        take = indices[indices // BLOCK_SIZE == block] - block * BLOCK_SIZE
        columns, lists = draw_block_columns(p, seed, shard, int(block), set_name, noiseless, bands, stream)
        parts.append(({k: np.asarray(v)[take] for k, v in columns.items()},
                      {k: [v[i] for i in take] for k, v in lists.items()}, len(take)))
    merged: dict = {}
    for key in dict.fromkeys(k for cols, lst, _ in parts for k in [*cols, *lst]):
        values = []
        for cols, lst, m in parts:
            if key in cols:
                values.append(np.asarray(cols[key]))
            elif key in lst:
                values.append(lst[key])
            elif key in LIST_COLUMNS or any(key in other for _, other, _ in parts):
                values.append([[] for _ in range(m)])
            else:
                kind = next(np.asarray(c[key]).dtype.kind for c, _, _ in parts if key in c)
                values.append(np.full(m, np.nan) if kind == "f" else np.full(m, "", dtype=object))
        merged[key] = ([x for v in values for x in v] if isinstance(values[0], list) or any(
            isinstance(v, list) for v in values) else np.concatenate(values))
    return columns_to_frame(merged, len(indices))

