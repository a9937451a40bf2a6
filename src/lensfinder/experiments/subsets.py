"""Seeded subsets for the experiments: class-balanced training sets and the Li et al. test sample.

He et al. 2020 sections 4.3.3 and 5.2 train on subsets of one parent set (the
Sersic and volume tests); Li et al. 2020 section 2.3 tests on mock lenses plus
survey galaxies of the LRG sample.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lensfinder.checks import require_cube_matches_index
from lensfinder.experiments.tables import in_sample, read_tables
from lensfinder.io import InputError, cube_bands, read_table, select_bands, write_cube, write_table

__all__ = [
    "SERSIC_COLUMNS",
    "huertas_company_density",
    "sersic_weights",
    "select_subset",
    "subset_pieces",
    "write_subset_shards",
    "write_subset",
    "roc_sample_rows",
    "write_roc_sample",
]

log = logging.getLogger(__name__)

#: metadata columns whose Sersic index a Huertas-Company subset resamples (those present are used)
SERSIC_COLUMNS = ("lens_light_n_sersic", "source_n_sersic", "n_sersic")


def huertas_company_density(n_range=(2.0, 5.0), bins: int = 30, draws: int = 200_000):
    """Histogram density of the simulator's Huertas-Company Sersic-index distribution.

    Drawn from :func:`lensfinder.simulation.populations.huertas_company_n`, so the
    distribution is defined in one place (the simulator's option).

    Returns
    -------
    density, edges : ndarray
        ``bins`` densities (per unit n) and their ``bins + 1`` edges over ``n_range``.
    """
    from lensfinder.simulation.populations import huertas_company_n

    rng = np.random.default_rng(20130)  # fixed: the density is a constant
    samples = np.fromiter((huertas_company_n(rng, n_range=n_range) for _ in range(draws)), float, draws)
    density, edges = np.histogram(samples, bins=bins, range=n_range, density=True)
    return density, edges


def sersic_weights(meta: pd.DataFrame, distribution: str, columns: Sequence[str],
                   n_range=(2.0, 5.0), density=None) -> np.ndarray:
    """Acceptance weights in [0, 1] that turn a flat-n parent into ``distribution``.

    For ``huertas_company`` each image's weight is the product over
    ``columns`` (e.g. lens light and source Sersic index) of
    ``p_HC(n) / p_flat(n)``, scaled so the largest possible value is 1;
    indices that are missing or outside ``n_range`` (e.g. a disk's n ~ 1)
    contribute a factor 1. ``flat`` gives all ones (the parent is flat).
    ``density`` is ``(density, edges)``, by default :func:`huertas_company_density`.
    """
    weights = np.ones(len(meta))
    if distribution == "flat":
        return weights
    if distribution != "huertas_company":
        raise InputError(f"distribution {distribution!r}: expected 'flat' or 'huertas_company'")
    present = [c for c in columns if c in meta.columns]
    if not present:
        raise InputError(f"metadata: none of the Sersic-index columns {list(columns)} found; "
                         f"have {', '.join(map(str, meta.columns[:20]))}")
    dens, edges = density if density is not None else huertas_company_density(n_range)
    ratio = dens / dens.max()
    for col in present:
        n = meta[col].to_numpy(dtype=float)
        inside = np.isfinite(n) & (n >= n_range[0]) & (n <= n_range[1])
        idx = np.clip(np.searchsorted(edges, np.where(inside, n, n_range[0]), side="right") - 1, 0, len(ratio) - 1)
        weights *= np.where(inside, ratio[idx], 1.0)
    return weights


def select_subset(labels, n_images: int, seed: int, weights=None) -> np.ndarray:
    """Positions of a class-balanced random subset (half lenses), sorted.

    Parameters
    ----------
    labels : array of bool
        ``is_lens`` of every parent image.
    n_images : int
        Subset size; ``n_images // 2`` lenses and the rest non-lenses.
    seed : int
        The subset's seed; the same (labels, n, seed, weights) give the same subset.
    weights : array of float in [0, 1], optional
        Acceptance probabilities (rejection sampling): the accepted images
        follow parent density x weight, e.g. a Huertas-Company n distribution.
    """
    labels = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    accept = np.ones(labels.size, dtype=bool)
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != labels.shape or np.any(weights < 0) or np.any(weights > 1):
            raise InputError(f"weights: expected {labels.size} values in [0, 1]")
        accept = rng.random(labels.size) < weights
    chosen = []
    for is_lens, n_class in ((True, n_images // 2), (False, n_images - n_images // 2)):
        pool = np.flatnonzero((labels == is_lens) & accept)
        if pool.size < n_class:
            kind = "lenses" if is_lens else "non-lenses"
            raise InputError(f"parent set: {pool.size} eligible {kind}, need {n_class} for a subset of {n_images}; "
                             "use a larger parent or a smaller subset")
        chosen.append(rng.choice(pool, size=n_class, replace=False))
    return np.sort(np.concatenate(chosen))


def subset_pieces(n_images: int, shard_size: int) -> int:
    """Number of output shards of a subset (at most ``shard_size`` images each)."""
    return max(1, math.ceil(n_images / shard_size))


def write_subset_shards(pairs, positions: np.ndarray, out_dir: Path, n_pieces: int, subset_name: str) -> None:
    """Copy the chosen rows of the parent shards into ``n_pieces`` output shards.

    Parameters
    ----------
    pairs : list of (cube path, metadata path)
        The parent shards, in the order ``positions`` counts them.
    positions : array of int
        Sorted positions in the concatenated parent set.
    out_dir : Path
        Receives ``shard_000.fits/.parquet`` ...; the metadata gain
        ``parent_shard``, ``parent_row`` and ``subset``.
    """
    from lensfinder.learning.datasets import CubeReader

    metas, offsets, readers = [], [0], []
    for cube, meta in pairs:
        table = read_table(meta, required=["object_id", "is_lens"])
        reader = CubeReader(cube)
        require_cube_matches_index(cube, reader.header, reader.n, table, meta, cube_label=f"the cube {cube}")
        metas.append(table)
        readers.append(reader)
        offsets.append(offsets[-1] + reader.n)
    offsets = np.asarray(offsets)
    header = readers[0].header
    bands = cube_bands(header, str(pairs[0][0]))
    for k, chunk in enumerate(np.array_split(positions, n_pieces)):
        images, rows = [], []
        shard_of = np.searchsorted(offsets, chunk, side="right") - 1
        for s in np.unique(shard_of):
            local = chunk[shard_of == s] - offsets[s]
            images.append(readers[s].take(local))
            part = metas[s].iloc[local].copy()
            part["parent_shard"] = Path(pairs[s][0]).stem
            part["parent_row"] = local
            rows.append(part)
        cube = np.concatenate(images) if images else np.zeros((0, *readers[0].shape), np.float32)
        table = pd.concat(rows, ignore_index=True) if rows else metas[0].iloc[:0]
        table["subset"] = subset_name
        write_cube(cube, out_dir / f"shard_{k:03d}.fits", header.get("PIXSCALE", 0.2), header.get("ZEROPT", 30.0),
                   bands=bands)
        write_table(table, out_dir / f"shard_{k:03d}.parquet")
        log.info("subset %s: shard %d of %d with %d images", subset_name, k + 1, n_pieces, len(table))
    for r in readers:
        r.close()


def write_subset(parent: Sequence[str], n_images: int, seed: int, out_dir, *, distribution: str = "flat",
                 sersic_columns: Sequence[str] = SERSIC_COLUMNS, n_shards: int = 1, name: str = "subset") -> None:
    """Select a seeded, class-balanced subset of the parent shards and write it as ``n_shards`` shards.

    ``parent`` are shard files or directories (as :func:`lensfinder.learning.datasets.resolve_shards`
    reads them); ``distribution`` ``huertas_company`` resamples the Sersic indices
    in ``sersic_columns`` (:func:`sersic_weights`).
    """
    from lensfinder.learning.datasets import resolve_shards

    pairs = resolve_shards(parent)
    meta = pd.concat([read_table(m, required=["object_id", "is_lens"]) for _, m in pairs], ignore_index=True)
    weights = sersic_weights(meta, distribution, sersic_columns) if distribution != "flat" else None
    positions = select_subset(meta["is_lens"].astype(bool).to_numpy(), n_images, seed, weights)
    log.info("subset %s: %d of %d parent images (seed %d, %s)", name, positions.size, len(meta), seed, distribution)
    write_subset_shards(pairs, positions, Path(out_dir), n_shards, name)


def roc_sample_rows(sim_meta: pd.DataFrame, survey: pd.DataFrame, n_positives: int, n_negatives: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the mock lenses (in ``sim_meta``) and survey negatives (in ``survey``), seeded.

    ``survey`` rows are the LRG-sample stamps already filtered to non-lenses.
    """
    rng = np.random.default_rng(seed)
    lenses = np.flatnonzero(sim_meta["is_lens"].astype(bool).to_numpy())
    if lenses.size < n_positives:
        raise InputError(f"simulated set: {lenses.size} lenses, need {n_positives}")
    if len(survey) < n_negatives:
        raise InputError(f"survey sample: {len(survey)} galaxies, need {n_negatives}; "
                         "lower li2020_roc.n_negatives or add tiles")
    return (np.sort(rng.choice(lenses, n_positives, replace=False)),
            np.sort(rng.choice(len(survey), n_negatives, replace=False)))


def write_roc_sample(sim: Sequence[str], stamp_cubes: Sequence[str], stamp_index: Sequence[str], out_cube, out_index,
                     *, truth: Sequence[str] = (), sample: str | None, n_positives: int, n_negatives: int,
                     seed: int) -> None:
    """Li et al. 2020 section 2.3 test sample: mock lenses plus survey galaxies of ``sample``, one cube.

    Parameters
    ----------
    sim : list of str
        Simulated shards (files or directories); the lenses are drawn from them.
    stamp_cubes, stamp_index : list of str
        The survey's stamp cubes and their index tables, one index per cube.
        The sample takes the simulations' bands, in their order, from each
        cube (r-band simulations take the r plane of g, r, i stamps).
    truth : list of str
        Mock-survey truth tables (``ID``, ``is_lens``): true lenses are left out of the negatives.
    sample : str or None
        Sample flag column of the negatives (e.g. ``lrg_li2020``).
    out_cube, out_index : path
        The sample's cube and its table (``object_id``, ``is_lens``, ``source``).
    """
    from lensfinder.learning.datasets import CubeReader, resolve_shards

    if len(stamp_cubes) != len(stamp_index):
        raise InputError("--stamp-cubes/--stamp-index: expected one index per cube")
    pairs = resolve_shards(sim)
    sim_tables = [read_table(m, required=["object_id", "is_lens"]) for _, m in pairs]
    stamp_tables = [read_table(p, required=["object_id"]) for p in stamp_index]
    sim_readers = [CubeReader(c) for c, _ in pairs]
    stamp_readers = [CubeReader(c) for c in stamp_cubes]
    # row k of each cube is row k of its table: the lengths and (survey stamps) the TILE
    for (cube, meta), reader, table in zip(pairs, sim_readers, sim_tables):
        require_cube_matches_index(cube, reader.header, reader.n, table, meta, cube_label=f"the cube {cube}")
    for cube, path, reader, table in zip(stamp_cubes, stamp_index, stamp_readers, stamp_tables):
        require_cube_matches_index(cube, reader.header, reader.n, table, path, cube_label=f"its --stamp-cubes {cube}")
    sim_meta = pd.concat([t.assign(_shard=i, _row=np.arange(len(t))) for i, t in enumerate(sim_tables)],
                         ignore_index=True)
    survey = pd.concat([t.assign(_cube=i, _row=np.arange(len(t))) for i, t in enumerate(stamp_tables)],
                       ignore_index=True)
    survey["object_id"] = survey["object_id"].astype(str)
    keep = in_sample(survey, sample)
    truth_table = read_tables(truth)
    if truth_table is not None:
        lenses = set(truth_table.loc[truth_table["is_lens"].astype(bool), "ID"].astype(str))
        keep &= ~survey["object_id"].isin(lenses)
    survey = survey[keep].reset_index(drop=True)
    pos, neg = roc_sample_rows(sim_meta, survey, n_positives, n_negatives, seed)
    bands = cube_bands(sim_readers[0].header, pairs[0][0])
    for (path, _), reader in zip(pairs, sim_readers):
        if (have := cube_bands(reader.header, path)) != bands:
            raise InputError(f"{path}: bands {list(have)}, but {pairs[0][0]} has {list(bands)}: "
                             f"the simulated shards need the same bands, in order")
    stamp_bands = [cube_bands(reader.header, str(path)) for path, reader in zip(stamp_cubes, stamp_readers)]
    images, rows = [], []
    for src, readers, key in ((sim_meta.iloc[pos], sim_readers, "_shard"), (survey.iloc[neg], stamp_readers, "_cube")):
        for k, part in src.groupby(key, sort=True):
            part_images = readers[k].take(part["_row"].to_numpy())
            if key == "_cube":  # the simulations' bands, e.g. the r plane of g, r, i stamps
                part_images = select_bands(part_images, stamp_bands[k], bands, str(stamp_cubes[k]))
                part_images = part_images[:, 0] if len(bands) == 1 and part_images.ndim == 4 else part_images
            images.append(part_images)
            rows.append(pd.DataFrame({"object_id": part["object_id"].astype(str).to_numpy(),
                                      "is_lens": key == "_shard",
                                      "source": "simulation" if key == "_shard" else "survey"}))
    shapes = {im.shape[1:] for im in images}
    if len(shapes) > 1:
        raise InputError(f"simulated and survey stamps differ in shape: {sorted(shapes)}; simulate at the survey's stamp size")
    header = sim_readers[0].header
    write_cube(np.concatenate(images), out_cube, header.get("PIXSCALE", 0.2), header.get("ZEROPT", 30.0), bands=bands)
    write_table(pd.concat(rows, ignore_index=True), out_index)
    for r in sim_readers + stamp_readers:
        r.close()
