"""Candidates for human inspection: thresholds per sample, selection, blind mixing and the manifest.

An object becomes a candidate when its ``p_cnn`` reaches the threshold of any
sample it belongs to (Li et al. 2020, section 3.1; He et al. 2020, section
4.1). Known simulated lenses and non-lenses can be mixed in, in a seeded,
blinded order, to measure each inspector. The files of an inspection set are
described in docs/inspection.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Sequence

import numpy as np

from lensfinder import constants
from lensfinder.checks import require_cube_matches_index
from lensfinder.io import (
    InputError,
    bool_column,
    cube_bands,
    read_cube,
    read_table,
    require_columns,
)

__all__ = [
    "PROCEDURE_THRESHOLDS",
    "MANIFEST_COLUMNS",
    "SET_CUBE",
    "parse_thresholds",
    "concat_predictions",
    "score_tie_breakers",
    "sort_by_score",
    "select_candidates",
    "safe_name",
    "unique_names",
    "load_stamps",
    "load_band_stamps",
    "manifest_columns",
    "mix_simulated",
    "build_manifest",
]

log = logging.getLogger(__name__)

#: The set's own stamp cube of one band (path relative to the set): row ``stamps_row`` of the manifest.
SET_CUBE = "stamps_{band}.fits"
#: A single band's PNG of a set of several bands (path relative to the set), beside the composite ``png``.
BAND_PNG = "png/{band}/{name}.png"


def manifest_columns(bands=("r",)) -> list[str]:
    """Columns of the inspection manifest of a set in ``bands``, one row per stamp in grading order.

    ``png`` is the grey stamp of a one-band set, the Lupton composite of a
    set of several, whose single bands are ``png_<band>``; ``stamps_<band>``
    names each band's cube (:data:`SET_CUBE`).
    """
    bands = list(bands)
    singles = [f"png_{b}" for b in bands] if len(bands) > 1 else []
    return ["object_id", "display_name", "png", *singles, "samples", "p_cnn", "order", "stamps_row",
            *(f"stamps_{b}" for b in bands)]


#: Columns of the inspection manifest of an r-band set.
MANIFEST_COLUMNS = manifest_columns()

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


def score_tie_breakers(table) -> list[str]:
    """Columns that order objects whose ``p_cnn`` ties, best first: ``p_cnn_raw`` where ``table`` has it.

    A calibration map that steepens the logit (beta calibration's ``b > 1``) takes every raw score above
    about ``1 - 1e-9`` to exactly 1.0 in float64, so the most confident objects tie; their raw scores
    (the ensemble's mean of the networks' own probabilities) still tell them apart.
    """
    return ["p_cnn_raw"] if "p_cnn_raw" in getattr(table, "columns", ()) else []


def sort_by_score(table, descending: Sequence[str]):
    """``table``'s rows best first: by the ``descending`` columns (NaN last), then by
    :func:`score_tie_breakers`, then by ``object_id`` (a stable mergesort)."""
    keys = [*descending, *score_tie_breakers(table)]
    return table.sort_values([*keys, "object_id"], ascending=[False] * len(keys) + [True], na_position="last",
                             kind="mergesort")


def concat_predictions(tables: Sequence[tuple[str, "object"]]):
    """Prediction tables of one model as one table, each row tagged with its ``_source``.

    Parameters
    ----------
    tables : sequence of (str, pandas.DataFrame)
        (source name for messages, table with ``object_id``, ``p_cnn``).

    Raises
    ------
    InputError
        An object scored twice, or a ``p_cnn`` that is infinite or not a number at all. A NaN
        ``p_cnn`` (a stamp inference skipped: too many pixels without data) is left out, with a
        warning that counts them, as ``evaluate`` does.
    """
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
    p_cnn = pd.to_numeric(pred["p_cnn"], errors="coerce").to_numpy(dtype=float)
    bad = np.isinf(p_cnn) | (np.isnan(p_cnn) & pred["p_cnn"].notna().to_numpy())
    if bad.any():
        row = pred.loc[bad].iloc[0]
        value = row["p_cnn"].item() if isinstance(row["p_cnn"], np.generic) else row["p_cnn"]
        raise InputError(f"{row['_source']}: p_cnn: {value!r} for object_id {row['object_id']!r}; "
                         "expected a probability (or NaN for a skipped stamp)")
    skipped = np.isnan(p_cnn)
    if skipped.any():
        log.warning("%d objects with p_cnn NaN (stamps inference skipped, e.g. %r) left out", int(skipped.sum()),
                    pred["object_id"][skipped].iloc[0])
        pred = pred[~skipped].reset_index(drop=True)
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
        One row per candidate, sorted by ``p_cnn`` (descending), then ``p_cnn_raw`` where the table has it
        (:func:`score_tie_breakers`), then ``object_id``; ``samples`` names the samples passed (``;``-separated).
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
        flag = bool_column(merged[sample].to_numpy(), "stamp index", sample)
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
    cand = sort_by_score(cand, ["p_cnn"])
    first = ["object_id", "p_cnn", "samples"]
    rest = [c for c in ("tile", "ra", "dec", "stamp_cube", "cube_row") if c in cand.columns]
    other = [c for c in pred_cols if c not in first and c not in rest]
    cand = cand[first + rest + other].reset_index(drop=True)
    cand["samples"] = cand["samples"].astype(str)
    return cand


# ---------------------------------------------------------------- file names and stamps


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(object_id: str) -> str:
    """A file-name-safe version of an object id (``KiDSDR4 J0020...`` -> ``KiDSDR4_J0020...``)."""
    name = _UNSAFE.sub("_", str(object_id)).strip("._") or "object"
    return name[:120]


def unique_names(object_ids: Sequence[str]) -> list[str]:
    """:func:`safe_name` of each id, made unique with a hash where two ids map to one name."""
    seen: set[str] = set()
    names = []
    for oid in object_ids:
        name = safe_name(oid)
        if name in seen:  # two ids that differ only in unsafe characters
            name = f"{name}_{hashlib.sha1(str(oid).encode()).hexdigest()[:8]}"
        seen.add(name)
        names.append(name)
    return names


def load_band_stamps(object_ids: Sequence[str], index_paths: Sequence, cube_paths: Sequence):
    """Stamps of ``object_ids`` from stamp indexes and their cubes (same order), and the cubes' bands.

    Returns
    -------
    stamps : dict
        ``{object_id: array}``, ``(ny, nx)`` for one band, ``(n_bands, ny, nx)``
        for several; ids without a stamp are left out.
    bands : tuple of str
        The bands (every cube must have the same).
    """
    wanted = set(map(str, object_ids))
    stamps: dict = {}
    bands = None
    if len(index_paths) != len(cube_paths):
        raise InputError(f"stamps: {len(index_paths)} indexes but {len(cube_paths)} cubes; expected one cube per index")
    for index_path, cube_path in zip(index_paths, cube_paths):
        index = read_table(index_path, required=["object_id"])
        ids = index["object_id"].astype(str)
        rows = [(oid, k) for k, oid in enumerate(ids) if oid in wanted and oid not in stamps]
        if rows:
            cube, header = read_cube(cube_path)
            require_cube_matches_index(cube_path, header, len(cube), index, index_path)
            these = cube_bands(header, str(cube_path))
            if bands is not None and these != bands:
                raise InputError(f"{cube_path}: bands {','.join(these)}, but other cubes have {','.join(bands)}")
            bands = these
            for oid, k in rows:
                stamps[oid] = np.array(cube[k], dtype=float)
    return stamps, bands or ("r",)


def load_stamps(object_ids: Sequence[str], index_paths: Sequence, cube_paths: Sequence) -> dict:
    """:func:`load_band_stamps` without the bands: ``{object_id: array}``."""
    return load_band_stamps(object_ids, index_paths, cube_paths)[0]


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
