"""Writing an inspection set: candidates, PNGs per object, the manifest, the unblinding key, a mosaic.

A set in several bands gets a Lupton colour composite per object (the
manifest's ``png``), each band's PNG beside it (``png_<band>``) and one stamp
cube per band (``stamps_<band>.fits``); a set of one band, the grey PNG and
its cube, as before colour. The files and their columns are described in
docs/inspection.md. An empty candidate set writes all of them with zero
rows, so downstream steps still run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder.inspection.candidates import (
    BAND_PNG,
    SET_CUBE,
    build_manifest,
    concat_predictions,
    manifest_columns,
    mix_simulated,
    select_candidates,
    unique_names,
)
from lensfinder.checks import require_cube_matches_index
from lensfinder.io import (
    InputError,
    bool_column,
    cube_bands,
    read_csv_table,
    read_cube,
    read_table,
    select_bands,
    with_band_axis,
    write_csv,
    write_cube,
    write_table,
)

__all__ = ["read_id_list", "export_inspection_set"]

log = logging.getLogger(__name__)


def read_id_list(path) -> list[str]:
    """The ``object_id`` column of a CSV or Parquet table, as strings.

    Every CSV cell is an id as written: ``NA``, ``null`` or ``N/A`` are ids, not
    missing values (pandas' default would make them ``nan``); blank lines are skipped.
    """

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    df = (read_table(path, required=["object_id"]) if path.suffix == ".parquet"
          else read_csv_table(path, ["object_id"], "an object_id column", dtype=str, keep_default_na=False,
                              na_filter=False))
    return df["object_id"].astype(str).tolist()


def _read_stamp_indexes(index_paths: Sequence, cube_paths: Sequence, thresholds: dict[str, float], catalog_path,
                        check=None):
    """The stamp indexes as one table, with ``cube_row``, ``stamp_cube``, ``_cube_k`` and, if needed, ra/dec.

    ``check(k, index, path)``, if given, is called with each index as read (to refuse a cube not its own).
    """
    import pandas as pd

    index_parts = []
    for k, path in enumerate(index_paths):
        part = read_table(path, required=["object_id"])
        if check is not None:
            check(k, part, path)
        part = part.copy()
        part["object_id"] = part["object_id"].astype(str)
        part["cube_row"] = np.arange(len(part), dtype=np.int64)
        part["stamp_cube"] = str(cube_paths[k])
        part["_cube_k"] = k
        for sample in thresholds:
            if sample not in part.columns:
                raise InputError(f"{path}: missing sample flag column {sample!r} named by --threshold; "
                                 f"found: {', '.join(map(str, part.columns))}")
            part[sample] = bool_column(part[sample].to_numpy(), str(path), sample)
        index_parts.append(part)
    stamp_index = pd.concat(index_parts, ignore_index=True)
    if catalog_path and not {"ra", "dec"} <= set(stamp_index.columns):
        cat = read_table(catalog_path, columns=["ID", "RAJ2000", "DECJ2000"], required=["ID", "RAJ2000", "DECJ2000"])
        cat = cat.rename(columns={"ID": "object_id", "RAJ2000": "ra", "DECJ2000": "dec"})
        stamp_index = stamp_index.merge(cat.astype({"object_id": str}), on="object_id", how="left")
    return stamp_index


class _BandStamps:
    """Stamps in the set's bands from cubes read once: a cube of any bands, or one cube per band."""

    def __init__(self, named: dict | None = None):
        self._cubes: dict[str, tuple] = {}
        self._headers: dict = {}
        self._named = named or {}  # path -> band of a one-band cube named by its option (--stamp-cube-g)

    def cube(self, path) -> tuple:
        """``(images (n, n_bands, ny, nx), bands)`` of a cube, read on first use."""
        if path not in self._cubes:
            images, header = read_cube(path)
            bands = cube_bands(header, str(path))
            if path in self._named and "BANDS" not in header:
                bands = (self._named[path],)
            self._cubes[path] = (with_band_axis(images), bands)
            self._headers[path] = header
        return self._cubes[path]

    def check_index(self, parts, index, index_path) -> None:
        """Refuse cubes (``parts``) that are not ``index``'s: their lengths, and TILE against its ``tile``."""
        for path in parts:
            images = self.cube(path)[0]
            require_cube_matches_index(path, self._headers[path], len(images), index, index_path)

    def stamp(self, parts, row: int, bands, what: str) -> np.ndarray:
        """Row ``row`` in ``bands`` from ``parts`` (cube paths whose bands together hold them), ``(n_bands, ny, nx)``."""
        images, names = [], []
        for path in parts:
            cube, cube_names = self.cube(path)
            if row >= len(cube):
                raise InputError(f"{path}: has {len(cube)} images but the index needs row {row} ({what})")
            images.append(cube[row])
            names += cube_names
        return np.asarray(select_bands(np.concatenate(images)[None], names, bands, f"{parts[0]} ({what})")[0],
                          dtype=np.float32)


def _zeropoints(row, bands):
    """Per-band zero points of an index or metadata row (``zeropoint_mag_<band>``), or None without them."""
    values = [row.get(f"zeropoint_mag_{b}") for b in bands]
    return None if any(v is None or not np.isfinite(v) for v in values) else [float(v) for v in values]


def _known_table(mixed):
    """The unblinding key ``object_id, is_lens, theta_E, source`` of the mixed-in objects (zero rows without)."""
    import pandas as pd

    known = pd.DataFrame({
        "object_id": pd.Series([] if mixed is None else mixed["object_id"].astype(str).tolist(), dtype=str),
        "is_lens": pd.Series([] if mixed is None else mixed["is_lens"].astype(bool).tolist(), dtype=bool),
        "theta_E": pd.Series([] if mixed is None or "theta_E" not in mixed else
                             mixed["theta_E"].astype(float).tolist(), dtype=float),
        "source": pd.Series([] if mixed is None else mixed["source"].tolist(), dtype=str),
    })
    if mixed is not None and "theta_E" not in mixed:
        known["theta_E"] = np.nan
    return known


def export_inspection_set(prediction_paths: Sequence, index_paths: Sequence, cube_paths: Sequence, out_dir,
                          thresholds: dict[str, float], *, g_cube_paths: Sequence | None = None,
                          i_cube_paths: Sequence | None = None, catalog_path=None, include_path=None,
                          exclude_path=None, simulated: Sequence[tuple] = (), n_mix: int = 20, seed: int = 42,
                          mosaic_max: int = 100):
    """Select the candidates and write the inspection set into ``out_dir``.

    Parameters
    ----------
    prediction_paths : sequence of path-like
        CNN predictions (``object_id, p_cnn, ...``) of one model.
    index_paths, cube_paths : sequence of path-like
        Stamp indexes (``object_id`` + sample flags) and their cubes (any
        bands, the same for all), one cube per index, in the same order (row
        k of a cube belongs to row k of its index).
    out_dir : path-like
        Output directory (``candidates.parquet``, ``manifest.parquet`` and
        ``.csv``, ``known.parquet``, ``png/``, ``stamps_<band>.fits``, ``mosaic.png``).
    thresholds : dict
        Sample flag column -> p_cnn threshold (see
        :func:`~lensfinder.inspection.candidates.parse_thresholds`).
    g_cube_paths, i_cube_paths : sequence of path-like, optional
        g- and i-band cubes (same rows) beside r-band ``cube_paths``, both or
        neither: a g, r, i set from one cube per band.
    catalog_path : path-like, optional
        Merged catalogue; fills ra/dec (RAJ2000/DECJ2000, deg) where the
        indexes lack them.
    include_path, exclude_path : path-like, optional
        ``object_id`` tables added whatever their p_cnn / removed.
    simulated : sequence of (cube path, metadata path)
        Simulation shards whose known lenses and non-lenses are mixed in
        (they must hold the set's bands; others are left out).
    n_mix : int
        Number of simulated objects mixed in, in all (half lenses).
    seed : int
        Seed of the mixing draw and of the blinded order.
    mosaic_max : int
        Stamps shown in ``mosaic.png``.

    Returns
    -------
    pandas.DataFrame
        The manifest (:func:`~lensfinder.inspection.candidates.manifest_columns` of the set's bands).
    """
    import pandas as pd

    from lensfinder.plots.stamps import render_band_png, render_stamp_png, write_mosaic
    from lensfinder.progress import progress

    out_dir = Path(out_dir)
    simulated = list(simulated or [])
    if len(index_paths) != len(cube_paths):
        raise InputError(f"--stamp-index/--stamp-cube: {len(index_paths)} indexes but "
                         f"{len(cube_paths)} cubes; give one cube per index, in the same order")
    colour = g_cube_paths is not None or i_cube_paths is not None
    if colour and not (g_cube_paths and i_cube_paths and len(g_cube_paths) == len(i_cube_paths) == len(cube_paths)):
        raise InputError("--stamp-cube-g/--stamp-cube-i: give both, one per --stamp-cube, in the same order")
    # each survey cube as the files that hold its bands: one cube of any bands, or g, r, i cubes
    parts = [[g, r, i] for g, r, i in zip(g_cube_paths, cube_paths, i_cube_paths)] if colour else \
        [[c] for c in cube_paths]
    reader = _BandStamps({**{p: "g" for p in g_cube_paths or ()}, **{p: "i" for p in i_cube_paths or ()}})
    bands = tuple(b for path in parts[0] for b in reader.cube(path)[1])
    for k, files in enumerate(parts[1:], 1):
        these = tuple(b for path in files for b in reader.cube(path)[1])
        if these != bands:
            raise InputError(f"{files[0]}: stamps in {','.join(these)}, but {parts[0][0]} has {','.join(bands)}; "
                             "every stamp cube of a set needs the same bands")

    predictions = concat_predictions([(str(p), read_table(p)) for p in prediction_paths])
    stamp_index = _read_stamp_indexes(index_paths, cube_paths, thresholds, catalog_path,
                                      check=lambda k, index, path: reader.check_index(parts[k], index, path))
    candidates = select_candidates(
        predictions, stamp_index, thresholds,
        include=read_id_list(include_path) if include_path else (),
        exclude=read_id_list(exclude_path) if exclude_path else (),
    )
    cube_k = stamp_index.drop_duplicates("object_id").set_index("object_id")["_cube_k"]
    candidates_k = cube_k.reindex(candidates["object_id"]).to_numpy()
    log.info("%d candidates (thresholds %s) from %d scored objects", len(candidates),
             ", ".join(f"{s}>={t:g}" for s, t in thresholds.items()), len(predictions))

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    mixed_parts = []
    for sim_cube, sim_meta in simulated:
        meta = read_table(sim_meta, required=["object_id", "is_lens"])
        per_shard = max(0, n_mix // len(simulated))
        chosen = mix_simulated(meta, per_shard, rng)
        chosen["stamp_cube"] = str(sim_cube)
        chosen["source"] = str(sim_meta)
        mixed_parts.append(chosen)
    mixed = pd.concat(mixed_parts, ignore_index=True) if mixed_parts else None
    if mixed is not None and mixed["object_id"].astype(str).isin(set(candidates["object_id"])).any():
        raise InputError(f"{simulated[0][1]}: object_id: simulated ids collide with candidate ids")

    manifest = build_manifest(candidates, mixed, seed=seed)
    names = unique_names(manifest["object_id"].tolist())
    if mixed is not None and len(mixed):
        names = [f"blind_{k:05d}" for k in range(len(manifest))]  # file names must not unblind either
    manifest["png"] = [f"png/{n}.png" for n in names]
    if len(bands) > 1:
        for b in bands:
            manifest[f"png_{b}"] = [BAND_PNG.format(band=b, name=n) for n in names]
    manifest["stamps_row"] = np.arange(len(manifest), dtype=np.int64)  # the set's own cubes: pixels for the page
    for b in bands:
        manifest[f"stamps_{b}"] = SET_CUBE.format(band=b)
    manifest = manifest[manifest_columns(bands)]

    # where each manifest row's stamp lives: (cube files, row, zero points per band)
    where: dict[str, tuple] = {}
    for row, k in zip(candidates.to_dict("records"), candidates_k):
        where[row["object_id"]] = (parts[int(k)], int(row["cube_row"]), _zeropoints(row, bands))
    if mixed is not None:
        for row in mixed.to_dict("records"):
            where[str(row["object_id"])] = ([row["stamp_cube"]], int(row["cube_row"]), _zeropoints(row, bands))

    set_stamps = []
    for oid in manifest["object_id"]:  # every stamp read and checked before anything is written
        files, row, _ = where[oid]
        stamp = reader.stamp(files, row, bands, oid)
        if set_stamps and stamp.shape != set_stamps[0].shape:
            raise InputError(f"{files[0]}: stamps of {stamp.shape[1:]} px, but other stamps of this set have "
                             f"{set_stamps[0].shape[1:]}; mixed-in simulations must match the survey stamps")
        set_stamps.append(stamp)
    # a set being rewritten loses its manifest first, and gets the new one last: a killed run leaves a set
    # without a manifest (refused by the grading page and merge-scores), never old rows beside new PNGs
    for name in ("manifest.parquet", "manifest.csv"):
        (out_dir / name).unlink(missing_ok=True)
    for k, (oid, png) in enumerate(progress(list(zip(manifest["object_id"], manifest["png"])), desc="stamps",
                                            unit="png")):
        stamp, zeropoints = set_stamps[k], where[oid][2]
        render_band_png(out_dir / png, stamp, bands, zeropoints=zeropoints)
        if len(bands) > 1:
            for b, image in zip(bands, stamp):
                render_stamp_png(out_dir / manifest[f"png_{b}"].iloc[k], image)
    first = reader.cube(parts[0][0])[0]
    header = read_cube(parts[0][0])[1]
    cube = np.stack(set_stamps) if set_stamps else np.zeros((0, len(bands), *first.shape[2:]), np.float32)
    for k, b in enumerate(bands):
        write_cube(cube[:, k], out_dir / SET_CUBE.format(band=b), header.get("PIXSCALE", 0.0),
                   header.get("ZEROPT", 0.0), header_cards={"BAND": (b, "stamps in manifest order (stamps_row)")},
                   bands=(b,))

    write_table(candidates, out_dir / "candidates.parquet")
    write_table(_known_table(mixed), out_dir / "known.parquet")
    shown = manifest.iloc[: max(0, mosaic_max)]
    write_mosaic([out_dir / p for p in shown["png"]], shown["display_name"].tolist(), out_dir / "mosaic.png",
                 title=f"{len(manifest)} objects to inspect" + (f" (first {len(shown)})" if len(shown) < len(manifest)
                                                                 else ""))
    write_csv(manifest, out_dir / "manifest.csv")
    write_table(manifest, out_dir / "manifest.parquet")  # last: the set's mark of completion
    log.info("inspection set: %d objects (%d candidates, %d mixed-in simulations) in %s, bands %s", len(manifest),
             len(candidates), 0 if mixed is None else len(mixed), out_dir, ",".join(bands))
    return manifest
