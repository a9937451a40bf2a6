"""Inspection sets: candidates above threshold, stamp PNGs, manifest, mock inspectors.

Two steps live here.

``lensfinder candidates``
    Joins CNN predictions with the stamp indexes, keeps every object whose
    ``p_cnn`` reaches the threshold of any sample it belongs to (Li et al.
    2020, section 3.1: 0.75 for LRGs, 0.98 for BGs; He et al. 2020, section
    4.1: 0.999999), renders one PNG per object and a grid mosaic, and writes
    the manifest the grading page (:mod:`lensfinder.inspection.server`) serves.
    Optionally mixes in known simulated lenses and non-lenses (to measure each
    inspector, as He et al. trained theirs on known systems and as Space Warps
    does) in a seeded, blinded order.
``lensfinder mock-grades``
    Grades from *simulated* inspectors, for the mock survey only: noisy
    functions of the truth table with a per-inspector skill. Their names start
    with ``simulated-`` so they cannot be mistaken for people.

Output tables (``--out-dir``)
-----------------------------
``candidates.parquet``
    ``object_id`` (str), ``p_cnn`` (float), ``samples`` (str, the samples whose
    threshold the object passed, ``;``-separated, or ``include`` for objects
    added by ``--include``), ``tile`` (str), ``ra``, ``dec`` (deg),
    ``stamp_cube`` (str, the r-band cube path), ``cube_row`` (int), plus the
    remaining prediction columns (``model``, ``model_hash``, ...).
``manifest.parquet`` / ``manifest.csv`` (one row per PNG, in grading order)
    ``object_id`` (str), ``display_name`` (str: the object id, or a blind label
    ``obj-0001`` when simulations are mixed in), ``png`` (str, path relative to
    the output directory), ``samples`` (str; empty for mixed-in objects),
    ``p_cnn`` (float; NaN for mixed-in objects), ``order`` (int, 0-based
    grading order).
``known.parquet``
    The unblinding key of mixed-in objects: ``object_id``, ``is_lens`` (bool),
    ``theta_E`` (arcsec), ``source`` (the simulation metadata path). Empty
    (zero rows) without ``--mix-simulated``. Read by ``merge-scores --known``
    (inspector skill) and by ``mock-grades --truth``, never shown on the page.
``png/<safe name>.png``
    r band with an asinh stretch (astropy.visualization), or a Lupton et al.
    (2004) g, r, i composite when the g and i cubes are given.
``mosaic.png``
    A grid of the first ``--mosaic-max`` stamps in grading order.

An empty candidate set writes all of these with zero rows (the mosaic then
says so), so downstream steps still run.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder import constants
from lensfinder.io import InputError, atomic_path, read_cube, read_table, require_columns, write_csv, write_table

__all__ = [
    "parse_thresholds",
    "select_candidates",
    "safe_name",
    "render_stamp_png",
    "stamp_rgb",
    "write_mosaic",
    "load_stamps",
    "mix_simulated",
    "build_manifest",
    "mock_inspector_grades",
    "add_candidates_arguments",
    "run_candidates",
    "add_mock_grades_arguments",
    "run_mock_grades",
    "MANIFEST_COLUMNS",
    "GRADES_COLUMNS",
]

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["object_id", "display_name", "png", "samples", "p_cnn", "order"]
GRADES_COLUMNS = ["object_id", "inspector", "grade", "time"]

#: Default thresholds per procedure (sample flag -> p_cnn threshold).
PROCEDURE_THRESHOLDS = {
    # Li et al. 2020, sections 2.3 and 3.1.
    "li2020": {"lrg_li2020": constants.THRESHOLDS["li2020_lrg"], "bg_li2020": constants.THRESHOLDS["li2020_bg"]},
    # He et al. 2020, section 4.1: the LRG sample with the simulated-training threshold.
    "he2020": {"lrg_li2020": constants.THRESHOLDS["he2020_simulated"]},
}


# ---------------------------------------------------------------- selection


def parse_thresholds(items: Sequence[str] | None, procedure: str = "li2020") -> dict[str, float]:
    """Parse ``SAMPLE=VALUE`` strings; with none, the procedure's defaults.

    Raises :class:`InputError` for a malformed item or a value outside [0, 1].
    """
    if not items:
        return dict(PROCEDURE_THRESHOLDS[procedure])
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            threshold = float(value)
        except ValueError:
            threshold = float("nan")
        if not sep or not name or not 0.0 <= threshold <= 1.0:
            raise InputError(f"--threshold: {item!r}: expected SAMPLE=VALUE with VALUE in [0, 1], e.g. bg_li2020=0.98")
        out[name] = threshold
    return out


def _concat_predictions(tables: Sequence[tuple[str, "object"]]):
    import pandas as pd

    parts = []
    for source, df in tables:
        require_columns(df, ["object_id", "p_cnn"], source, "CNN predictions")
        part = df.copy()
        part["object_id"] = part["object_id"].astype(str)
        part["_source"] = source
        parts.append(part)
    if not parts:
        return pd.DataFrame({"object_id": pd.Series(dtype=str), "p_cnn": pd.Series(dtype=float), "_source": []})
    pred = pd.concat(parts, ignore_index=True)
    dup = pred["object_id"].duplicated(keep=False)
    if dup.any():
        first = pred.loc[dup].iloc[:2]
        raise InputError(
            f"{first['_source'].iloc[-1]}: object_id: {first['object_id'].iloc[0]!r} is scored more than once "
            f"(also in {first['_source'].iloc[0]}); pass one model's predictions per run"
        )
    bad = ~np.isfinite(pred["p_cnn"].to_numpy(dtype=float))
    if bad.any():
        row = pred.loc[bad].iloc[0]
        raise InputError(f"{row['_source']}: p_cnn: not a finite number for object_id {row['object_id']!r}")
    return pred


def select_candidates(predictions, stamp_index, thresholds: dict[str, float], *, include: Sequence[str] = (),
                      exclude: Sequence[str] = ()):
    """Objects whose ``p_cnn`` reaches the threshold of any sample they belong to.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``object_id``, ``p_cnn`` and any other columns (kept).
    stamp_index : pandas.DataFrame
        ``object_id``, one bool column per sample named in ``thresholds``, and
        optionally ``tile``, ``ra``, ``dec`` (deg), ``stamp_cube``, ``cube_row``.
    thresholds : dict
        Sample flag column -> p_cnn threshold.
    include : sequence of str
        Object ids added whatever their p_cnn (He et al. 2020, section 4.1:
        known candidates the network missed); ``samples`` is ``include``.
    exclude : sequence of str
        Object ids removed (Li et al. 2020, section 3.2: already known
        candidates and the pre-filter's obvious non-lenses).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, sorted by ``p_cnn`` (descending) then
        ``object_id``; ``samples`` names the samples passed (``;``-separated).
    """
    import pandas as pd

    require_columns(stamp_index, ["object_id", *thresholds], "stamp index", "sample flags")
    index = stamp_index.drop_duplicates("object_id", keep="first")
    if len(index) < len(stamp_index):
        log.info("%d objects have stamps in more than one tile; the first stamp is used",
                 len(stamp_index) - len(index))
    pred_cols = [c for c in predictions.columns if c != "_source"]
    merged = predictions[pred_cols].merge(index, on="object_id", how="inner", suffixes=("", "_index"))
    missing = len(predictions) - len(merged)
    if missing:
        log.warning("%d predicted objects have no row in the stamp indexes and cannot be candidates", missing)
    samples = np.full(len(merged), "", dtype=object)
    p_cnn = merged["p_cnn"].to_numpy(dtype=float)
    for sample, threshold in thresholds.items():
        flag = merged[sample].astype("boolean").fillna(False).to_numpy(dtype=bool)
        passed = flag & (p_cnn >= threshold)
        samples[passed] = np.where(samples[passed] == "", sample, samples[passed] + ";" + sample)
    merged["samples"] = pd.Series(samples, index=merged.index, dtype=object).astype(str)
    include = set(map(str, include))
    forced = merged["object_id"].isin(include) & (merged["samples"] == "")
    merged.loc[forced, "samples"] = "include"
    unknown = include - set(merged["object_id"])
    if unknown:
        log.warning("%d --include objects have no prediction/stamp and are skipped: %s", len(unknown),
                    ", ".join(sorted(unknown)[:5]))
    keep = (merged["samples"] != "") & ~merged["object_id"].isin(set(map(str, exclude)))
    n_excluded = int(((merged["samples"] != "") & merged["object_id"].isin(set(map(str, exclude)))).sum())
    if n_excluded:
        log.info("%d candidates removed by --exclude", n_excluded)
    cand = merged.loc[keep].copy()
    cand = cand.sort_values(["p_cnn", "object_id"], ascending=[False, True], kind="mergesort")
    first = ["object_id", "p_cnn", "samples"]
    rest = [c for c in ("tile", "ra", "dec", "stamp_cube", "cube_row") if c in cand.columns]
    other = [c for c in pred_cols if c not in first and c not in rest]
    cand = cand[first + rest + other].reset_index(drop=True)
    cand["samples"] = cand["samples"].astype(str)
    return cand


# ---------------------------------------------------------------- images


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(object_id: str) -> str:
    """A file-name-safe version of an object id (``KiDSDR4 J0020...`` -> ``KiDSDR4_J0020...``)."""
    name = _UNSAFE.sub("_", str(object_id)).strip("._") or "object"
    return name[:120]


def _unique_names(object_ids: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    names = []
    for oid in object_ids:
        name = safe_name(oid)
        if name in seen:  # two ids that differ only in unsafe characters
            name = f"{name}_{hashlib.sha1(str(oid).encode()).hexdigest()[:8]}"
        seen.add(name)
        names.append(name)
    return names


def _asinh_norm(image: np.ndarray) -> np.ndarray:
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, dtype=float)
    clean = np.where(finite, image, np.nanmedian(image[finite]))
    norm = ImageNormalize(clean, interval=PercentileInterval(99.5), stretch=AsinhStretch(a=0.1), clip=True)
    return np.asarray(norm(clean), dtype=float)


def stamp_rgb(g: np.ndarray, r: np.ndarray, i: np.ndarray, *, stretch: float | None = None,
              Q: float = 8.0) -> np.ndarray:
    """Lupton et al. (2004) colour composite (i, r, g -> R, G, B), uint8 ``(ny, nx, 3)``.

    ``stretch`` defaults to the r-band 99.5th percentile, so that stamps of
    different brightness all show their faint features.
    """
    from astropy.visualization import make_lupton_rgb

    bands = [np.nan_to_num(np.asarray(b, dtype=float)) for b in (i, r, g)]
    if stretch is None:
        stretch = float(np.percentile(bands[1], 99.5)) or 1.0
    return make_lupton_rgb(*bands, stretch=max(stretch, 1e-12), Q=Q, minimum=0.0)


def render_stamp_png(path, r: np.ndarray, g: np.ndarray | None = None, i: np.ndarray | None = None,
                     upscale: int = 2) -> Path:
    """Write one stamp as PNG atomically: asinh-stretched r band, or g, r, i Lupton RGB.

    North is up (row 0 of the array at the bottom of the image), as in the
    coadd's TAN WCS. ``upscale`` repeats pixels so small stamps stay crisp.
    """
    import matplotlib.image as mpimg

    if g is not None and i is not None:
        img = stamp_rgb(g, r, i)
        cmap = None
    else:
        img = _asinh_norm(np.asarray(r, dtype=float))
        cmap = "gray"
    img = img[::-1]
    if upscale > 1:
        img = np.repeat(np.repeat(img, upscale, axis=0), upscale, axis=1)
    with atomic_path(path) as tmp:
        mpimg.imsave(tmp, img, cmap=cmap, vmin=None if cmap is None else 0.0, vmax=None if cmap is None else 1.0,
                     format="png")
    return Path(path)


def write_mosaic(png_paths: Sequence, labels: Sequence[str], path, *, ncols: int = 10, title: str = "",
                 tile_inches: float = 1.3) -> Path:
    """Grid of stamps with a label over each, written atomically (Agg backend).

    Each item of ``png_paths`` is a PNG path or a 2-D image array (counts;
    shown with the asinh stretch of :func:`render_stamp_png`, north up).
    With no stamps the figure says so, so that the file always exists.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    n = len(png_paths)
    ncols = max(1, min(ncols, n)) if n else 1
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(tile_inches * ncols, (tile_inches + 0.25) * nrows + 0.3),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    if n == 0:
        axes[0, 0].text(0.5, 0.5, "no candidates", ha="center", va="center", fontsize=9)
    for ax, png, label in zip(axes.ravel(), png_paths, labels):
        if isinstance(png, np.ndarray):
            ax.imshow(_asinh_norm(np.asarray(png, dtype=float)), cmap="gray", origin="lower", vmin=0, vmax=1)
        else:
            ax.imshow(mpimg.imread(png))
        ax.set_title(str(label), fontsize=5, pad=2)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.3)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=150)
    finally:
        plt.close(fig)
    return Path(path)


def load_stamps(object_ids: Sequence[str], index_paths: Sequence, cube_paths: Sequence) -> dict:
    """r-band stamps of ``object_ids`` from stamp indexes and their cubes (same order).

    Returns ``{object_id: 2-D array}``; ids without a stamp are left out.
    """
    wanted = set(map(str, object_ids))
    stamps: dict = {}
    if len(index_paths) != len(cube_paths):
        raise InputError(f"stamps: {len(index_paths)} indexes but {len(cube_paths)} cubes; expected one cube per index")
    for index_path, cube_path in zip(index_paths, cube_paths):
        ids = read_table(index_path, columns=["object_id"], required=["object_id"])["object_id"].astype(str)
        rows = [(oid, k) for k, oid in enumerate(ids) if oid in wanted and oid not in stamps]
        if rows:
            cube = read_cube(cube_path)[0]
            for oid, k in rows:
                stamps[oid] = np.array(cube[k], dtype=float)
    return stamps


# ---------------------------------------------------------------- mixing and manifest


def mix_simulated(metadata, n_mix: int, rng: np.random.Generator):
    """Draw up to ``n_mix`` simulated objects, half lenses and half non-lenses.

    ``metadata`` is a simulation shard table (``object_id``, ``is_lens``,
    optionally ``theta_E``); returns its chosen rows (original row order kept
    in the ``cube_row`` column).
    """
    require_columns(metadata, ["object_id", "is_lens"], "simulation metadata")
    meta = metadata.reset_index(drop=True).copy()
    meta["cube_row"] = np.arange(len(meta))
    lenses = np.flatnonzero(meta["is_lens"].astype(bool).to_numpy())
    others = np.flatnonzero(~meta["is_lens"].astype(bool).to_numpy())
    n_lens = min(len(lenses), (n_mix + 1) // 2)
    n_other = min(len(others), n_mix - n_lens)
    chosen = np.concatenate([rng.choice(lenses, n_lens, replace=False), rng.choice(others, n_other, replace=False)])
    return meta.iloc[np.sort(chosen.astype(int))].reset_index(drop=True)


def build_manifest(candidates, mixed=None, *, seed: int = 42, blind: bool | None = None):
    """Manifest rows (without ``png``) for candidates plus mixed-in objects.

    With mixed-in objects the order is a seeded shuffle and ``display_name``
    a blind label, so an inspector cannot tell simulations from candidates;
    without, candidates keep their p_cnn order and show their object id.
    """
    import pandas as pd

    rows = pd.DataFrame({
        "object_id": candidates["object_id"].astype(str).to_numpy(),
        "samples": candidates["samples"].astype(str).to_numpy(),
        "p_cnn": candidates["p_cnn"].astype(float).to_numpy(),
    })
    if mixed is not None and len(mixed):
        extra = pd.DataFrame({"object_id": mixed["object_id"].astype(str).to_numpy(), "samples": "",
                              "p_cnn": np.nan})
        rows = pd.concat([rows, extra], ignore_index=True)
    blind = bool(mixed is not None and len(mixed)) if blind is None else blind
    if blind:
        perm = np.random.default_rng(np.random.SeedSequence([seed, 6])).permutation(len(rows))
        rows = rows.iloc[perm].reset_index(drop=True)
        rows["display_name"] = [f"obj-{k + 1:04d}" for k in range(len(rows))]
    else:
        rows["display_name"] = rows["object_id"]
    rows["order"] = np.arange(len(rows), dtype=np.int64)
    return rows


# ---------------------------------------------------------------- CLI: candidates


def add_candidates_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", nargs="+", required=True, metavar="PARQUET",
                        help="CNN predictions (object_id, p_cnn, ...), one or more tiles of one model")
    parser.add_argument("--stamp-index", nargs="+", required=True, metavar="PARQUET",
                        help="stamp indexes (object_id + sample flags), one per cube, same order as --stamp-cube")
    parser.add_argument("--stamp-cube", nargs="+", required=True, metavar="FITS",
                        help="r-band stamp cubes, row k belongs to index row k")
    parser.add_argument("--stamp-cube-g", nargs="+", default=None, metavar="FITS",
                        help="g-band cubes (same rows); with --stamp-cube-i gives Lupton g,r,i colour PNGs")
    parser.add_argument("--stamp-cube-i", nargs="+", default=None, metavar="FITS", help="i-band cubes (same rows)")
    parser.add_argument("--catalog", default=None, metavar="PARQUET",
                        help="merged catalogue; fills ra/dec (RAJ2000/DECJ2000) where the index lacks them")
    parser.add_argument("--threshold", action="append", default=None, metavar="SAMPLE=P",
                        help="p_cnn threshold per sample flag (repeatable); default from --procedure")
    parser.add_argument("--procedure", choices=sorted(PROCEDURE_THRESHOLDS), default="li2020",
                        help="inspection procedure: default thresholds (li2020: lrg 0.75, bg 0.98; "
                             "he2020: lrg 0.999999)")
    parser.add_argument("--include", default=None, metavar="CSV",
                        help="object_id list added whatever their p_cnn (He et al.: known lenses the CNN missed)")
    parser.add_argument("--exclude", default=None, metavar="CSV",
                        help="object_id list removed (Li et al.: pre-filtered non-lenses, already known candidates)")
    parser.add_argument("--mix-simulated", nargs=2, action="append", default=None, metavar=("SIMCUBE", "SIMMETA"),
                        help="mix known simulated lenses and non-lenses from this shard into the set (repeatable)")
    parser.add_argument("--n-mix", type=int, default=20,
                        help="number of simulated objects mixed in (half lenses), default 20")
    parser.add_argument("--seed", type=int, default=42, help="seed of the mixing draw and the blinded order")
    parser.add_argument("--mosaic-max", type=int, default=100, help="stamps shown in mosaic.png (default 100)")
    parser.add_argument("--out-dir", required=True, help="output directory (results/inspect)")


def _read_id_list(path) -> list[str]:
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    require_columns(df, ["object_id"], str(path))
    return df["object_id"].astype(str).tolist()


def run_candidates(args: argparse.Namespace) -> int:
    import pandas as pd

    from lensfinder.progress import progress

    out_dir = Path(args.out_dir)
    thresholds = parse_thresholds(args.threshold, args.procedure)
    if len(args.stamp_index) != len(args.stamp_cube):
        raise InputError(f"--stamp-index/--stamp-cube: {len(args.stamp_index)} indexes but "
                         f"{len(args.stamp_cube)} cubes; give one cube per index, in the same order")
    colour = args.stamp_cube_g is not None or args.stamp_cube_i is not None
    if colour and not (args.stamp_cube_g and args.stamp_cube_i
                       and len(args.stamp_cube_g) == len(args.stamp_cube_i) == len(args.stamp_cube)):
        raise InputError("--stamp-cube-g/--stamp-cube-i: give both, one per --stamp-cube, in the same order")

    predictions = _concat_predictions([(str(p), read_table(p)) for p in args.predictions])
    index_parts = []
    for k, path in enumerate(args.stamp_index):
        part = read_table(path, required=["object_id"])
        part = part.copy()
        part["object_id"] = part["object_id"].astype(str)
        part["cube_row"] = np.arange(len(part), dtype=np.int64)
        part["stamp_cube"] = str(args.stamp_cube[k])
        part["_cube_k"] = k
        for sample in thresholds:
            if sample not in part.columns:
                raise InputError(f"{path}: missing sample flag column {sample!r} named by --threshold; "
                                 f"found: {', '.join(map(str, part.columns))}")
        index_parts.append(part)
    stamp_index = pd.concat(index_parts, ignore_index=True)
    if args.catalog and not {"ra", "dec"} <= set(stamp_index.columns):
        cat = read_table(args.catalog, columns=["ID", "RAJ2000", "DECJ2000"], required=["ID", "RAJ2000", "DECJ2000"])
        cat = cat.rename(columns={"ID": "object_id", "RAJ2000": "ra", "DECJ2000": "dec"})
        stamp_index = stamp_index.merge(cat.astype({"object_id": str}), on="object_id", how="left")

    candidates = select_candidates(
        predictions, stamp_index, thresholds,
        include=_read_id_list(args.include) if args.include else (),
        exclude=_read_id_list(args.exclude) if args.exclude else (),
    )
    cube_k = stamp_index.drop_duplicates("object_id").set_index("object_id")["_cube_k"]
    candidates_k = cube_k.reindex(candidates["object_id"]).to_numpy()
    log.info("%d candidates (thresholds %s) from %d scored objects", len(candidates),
             ", ".join(f"{s}>={t:g}" for s, t in thresholds.items()), len(predictions))

    rng = np.random.default_rng(np.random.SeedSequence([args.seed, 0]))
    mixed_parts = []
    for sim_cube, sim_meta in args.mix_simulated or []:
        meta = read_table(sim_meta, required=["object_id", "is_lens"])
        per_shard = max(0, args.n_mix // len(args.mix_simulated))
        chosen = mix_simulated(meta, per_shard, rng)
        chosen["stamp_cube"] = str(sim_cube)
        chosen["source"] = str(sim_meta)
        mixed_parts.append(chosen)
    mixed = pd.concat(mixed_parts, ignore_index=True) if mixed_parts else None
    if mixed is not None and mixed["object_id"].astype(str).isin(set(candidates["object_id"])).any():
        raise InputError(f"{args.mix_simulated[0][1]}: object_id: simulated ids collide with candidate ids")

    manifest = build_manifest(candidates, mixed, seed=args.seed)
    names = _unique_names(manifest["object_id"].tolist())
    if mixed is not None and len(mixed):
        names = [f"blind_{k:05d}" for k in range(len(manifest))]  # file names must not unblind either
    manifest["png"] = [f"png/{n}.png" for n in names]
    manifest = manifest[MANIFEST_COLUMNS]

    # where each manifest row's stamp lives: (r cube, row, g cube, i cube)
    where: dict[str, tuple] = {}
    for oid, cube, row, k in zip(candidates["object_id"], candidates["stamp_cube"], candidates["cube_row"],
                                 candidates_k):
        where[oid] = (cube, int(row), args.stamp_cube_g[int(k)] if colour else None,
                      args.stamp_cube_i[int(k)] if colour else None)
    if mixed is not None:
        for oid, cube, row in zip(mixed["object_id"].astype(str), mixed["stamp_cube"], mixed["cube_row"]):
            where[oid] = (cube, int(row), None, None)

    cubes: dict[str, np.ndarray] = {}

    def cube(path):
        if path not in cubes:
            cubes[path] = read_cube(path)[0]
        return cubes[path]

    for oid, png in progress(list(zip(manifest["object_id"], manifest["png"])), desc="stamps", unit="png"):
        r_path, row, g_path, i_path = where[oid]
        r_cube = cube(r_path)
        if row >= len(r_cube):
            raise InputError(f"{r_path}: has {len(r_cube)} images but the index needs row {row} ({oid})")
        g = cube(g_path)[row] if g_path else None
        i = cube(i_path)[row] if i_path else None
        render_stamp_png(out_dir / png, r_cube[row], g, i)

    write_table(candidates, out_dir / "candidates.parquet")
    write_table(manifest, out_dir / "manifest.parquet")
    write_csv(manifest, out_dir / "manifest.csv")
    known = pd.DataFrame({
        "object_id": pd.Series([] if mixed is None else mixed["object_id"].astype(str).tolist(), dtype=str),
        "is_lens": pd.Series([] if mixed is None else mixed["is_lens"].astype(bool).tolist(), dtype=bool),
        "theta_E": pd.Series([] if mixed is None or "theta_E" not in mixed else
                             mixed["theta_E"].astype(float).tolist(), dtype=float),
        "source": pd.Series([] if mixed is None else mixed["source"].tolist(), dtype=str),
    })
    if mixed is not None and "theta_E" not in mixed:
        known["theta_E"] = np.nan
    write_table(known, out_dir / "known.parquet")
    shown = manifest.iloc[: max(0, args.mosaic_max)]
    write_mosaic([out_dir / p for p in shown["png"]], shown["display_name"].tolist(), out_dir / "mosaic.png",
                 title=f"{len(manifest)} objects to inspect" + (f" (first {len(shown)})" if len(shown) < len(manifest)
                                                                 else ""))
    log.info("inspection set: %d objects (%d candidates, %d mixed-in simulations) in %s", len(manifest),
             len(candidates), 0 if mixed is None else len(mixed), out_dir)
    return 0


# ---------------------------------------------------------------- mock inspectors


#: Latent-score cut points of the simulated inspectors (upper edge first).
_MOCK_CUTS = {
    "li2020": [(0.75, "A"), (0.5, "B"), (0.25, "C"), (-np.inf, "D")],
    "he2020": [(0.7, "2"), (0.4, "1"), (-np.inf, "0")],
}


#: Mock-survey object types that look lens-like to people (Li et al. 2020, Fig. 6:
#: rings, spiral arms and interactions mimic arcs).
MOCK_CONFUSERS = ("ring", "merger", "spiral")


def mock_inspector_grades(object_ids: Sequence[str], is_lens: Sequence[bool], theta_E_arcsec: Sequence[float],
                          scheme: str = "li2020", n_inspectors: int = 5, seed: int = 42,
                          object_type: Sequence[str] | None = None):
    """Grades from simulated inspectors: noisy functions of the truth.

    Each inspector ``k`` has a skill ``s_k`` drawn in [0.55, 0.95] and a bias
    ``b_k ~ N(0, 0.05)``. An object's latent "lensiness" is
    ``0.45 + 0.45 tanh(theta_E / 1")`` for a lens (bigger Einstein radii are
    easier to see), 0.3 for non-lenses whose truth ``object_type`` is one of
    :data:`MOCK_CONFUSERS`, and 0.12 otherwise; inspector ``k`` sees it with Gaussian
    noise of sigma ``0.05 + 0.4 (1 - s_k)`` and grades it by fixed cut points
    (li2020: A >= 0.75 > B >= 0.5 > C >= 0.25 > D; he2020: 2 >= 0.7 > 1 >=
    0.4 > 0). Objects are graded in a per-inspector seeded order with seeded
    times, so the same seed gives the same file.

    Returns
    -------
    pandas.DataFrame
        ``object_id, inspector, grade, time`` (ISO 8601 UTC); inspectors are
        named ``simulated-1`` ... ``simulated-N``.
    """
    import pandas as pd

    if scheme not in _MOCK_CUTS:
        raise InputError(f"--scheme: {scheme!r}: expected one of {', '.join(_MOCK_CUTS)}")
    ids = np.asarray(list(map(str, object_ids)), dtype=object)
    lens = np.asarray(is_lens, dtype=bool)
    theta = np.nan_to_num(np.asarray(theta_E_arcsec, dtype=float), nan=0.0)
    confuser = np.zeros(len(ids), dtype=bool) if object_type is None else \
        np.isin(np.asarray(list(map(str, object_type)), dtype=object), MOCK_CONFUSERS)
    latent = np.where(lens, 0.45 + 0.45 * np.tanh(np.clip(theta, 0, None) / 1.0), np.where(confuser, 0.3, 0.12))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 61]))
    skill = rng.uniform(0.55, 0.95, n_inspectors)
    bias = rng.normal(0.0, 0.05, n_inspectors)
    start = np.datetime64("2020-01-01T09:00:00", "s")
    rows = []
    for k in range(n_inspectors):
        sigma = 0.05 + 0.4 * (1.0 - skill[k])
        seen = latent + bias[k] + rng.normal(0.0, sigma, len(ids))
        grades = np.empty(len(ids), dtype=object)
        grades[:] = _MOCK_CUTS[scheme][-1][1]
        for cut, grade in reversed(_MOCK_CUTS[scheme][:-1]):
            grades[seen >= cut] = grade
        order = rng.permutation(len(ids))
        seconds = np.cumsum(rng.integers(2, 15, len(ids)))
        t0 = start + np.timedelta64(3600 * k, "s")
        for j, idx in enumerate(order):
            rows.append((ids[idx], f"simulated-{k + 1}", grades[idx],
                         str(t0 + np.timedelta64(int(seconds[j]), "s")) + "+00:00"))
    return pd.DataFrame(rows, columns=GRADES_COLUMNS).astype(str)


def add_mock_grades_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="inspection manifest (results/inspect/manifest.parquet)")
    parser.add_argument("--truth", nargs="+", required=True, metavar="PARQUET",
                        help="truth tables: mock-survey truth (ID, is_lens, theta_E) and/or the set's known.parquet "
                             "(object_id, is_lens, theta_E)")
    parser.add_argument("--scheme", choices=sorted(_MOCK_CUTS), default="li2020", help="grading scheme")
    parser.add_argument("--n-inspectors", type=int, default=5, help="number of simulated inspectors (Li et al.: 5)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the simulated inspectors")
    parser.add_argument("--out", required=True, help="grades CSV (object_id,inspector,grade,time)")


def run_mock_grades(args: argparse.Namespace) -> int:
    import pandas as pd

    manifest = read_table(args.manifest, required=["object_id"])
    parts = []
    for path in args.truth:
        t = read_table(path)
        key = "object_id" if "object_id" in t.columns else "ID"
        require_columns(t, [key, "is_lens"], str(path), "truth table")
        part = pd.DataFrame({"object_id": t[key].astype(str), "is_lens": t["is_lens"].astype(bool),
                             "theta_E": t["theta_E"].astype(float) if "theta_E" in t.columns else np.nan,
                             "object_type": t["object_type"].astype(str) if "object_type" in t.columns else ""})
        parts.append(part)
    truth = pd.concat(parts, ignore_index=True).drop_duplicates("object_id", keep="first").set_index("object_id")
    ids = manifest["object_id"].astype(str)
    missing = ~ids.isin(truth.index)
    if missing.any():
        log.warning("%d manifest objects have no truth row and are graded as non-lenses (e.g. %s)",
                    int(missing.sum()), ids[missing].iloc[0])
    t = truth.reindex(ids)
    if args.n_inspectors < 1:
        raise InputError(f"--n-inspectors: {args.n_inspectors}: expected at least 1")
    grades = mock_inspector_grades(ids.tolist(), t["is_lens"].fillna(False).astype(bool).to_numpy(),
                                   t["theta_E"].to_numpy(dtype=float), scheme=args.scheme,
                                   n_inspectors=args.n_inspectors, seed=args.seed,
                                   object_type=t["object_type"].fillna("").astype(str).tolist())
    write_csv(grades, args.out)
    log.info("SIMULATED inspectors: %d grades from %d simulated inspectors on %d objects -> %s",
             len(grades), args.n_inspectors, len(ids), args.out)
    return 0
