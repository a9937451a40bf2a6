"""He et al.'s candidate-overlap tables: which networks' survey candidates coincide (Tables 3 and 4).

Pure functions of labelled survey scores (:func:`lensfinder.experiments.tables.read_survey_scores`), as the
other experiment tables (:mod:`lensfinder.experiments.tables`); the columns are listed in docs/experiments.md.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from lensfinder.experiments.reference import PAPER
from lensfinder.experiments.tables import in_sample
from lensfinder.io import InputError, require_columns

__all__ = ["candidate_sets", "overlap_pct", "sersic_tables", "net_comparison_tables"]


def candidate_sets(table: pd.DataFrame, by: str, threshold: float, sample_mask: pd.Series | None = None) -> dict:
    """``{group: set of object_id with p_cnn >= threshold}`` for each value of column ``by``."""
    df = table if sample_mask is None else table[sample_mask]
    return {key: set(part.loc[part["p_cnn"] >= threshold, "object_id"]) for key, part in df.groupby(by, sort=True)}


def overlap_pct(candidates: set, reference: set) -> float:
    """Percentage of ``reference`` that is also in ``candidates`` (NaN for an empty reference)."""
    return 100.0 * len(candidates & reference) / len(reference) if reference else float("nan")


def _require_networks(table: pd.DataFrame, networks, source: str, expected: str) -> None:
    """Raise :class:`InputError` naming ``source``, the ``networks`` without rows in ``table`` (column
    ``network``), what was ``expected`` and the networks there are."""
    found = list(dict.fromkeys(table["network"].astype(str)))
    missing = [n for n in networks if n not in found]
    if missing:
        raise InputError(f"{source}: network: no scores of {', '.join(map(repr, missing))}; expected {expected}; "
                         f"found network(s): {', '.join(map(repr, found[:20])) or 'none'}")


def sersic_tables(table: pd.DataFrame, threshold: float, fiducial_threshold: float,
                  sample: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 4: overlaps of each network's candidates with the fiducial network's.

    ``overlap_*_pct`` is the percentage of the fiducial set recovered (the
    paper's measure); ``in_fiducial_pct`` the percentage of the network's own
    candidates that the fiducial network also selected.

    ``table`` holds survey scores of all networks (column ``network``:
    ``fiducial`` or ``{distribution}_r{repeat}``, plus ``distribution`` and
    ``repeat``), joined with the stamp flags and the mock truth
    (``true_lens``). The paper's "48 high-probability candidates" (after
    human inspection) become the fiducial candidates that are true lenses
    in the mock truth.

    Raises :class:`InputError` when the fiducial network's scores are missing
    (from the table, or from ``sample``), when there is no other network, or
    when another network's rows lack ``distribution`` or ``repeat``.
    """
    require_columns(table, ["object_id", "p_cnn", "network"], "sersic scores")
    _require_networks(table, ["fiducial"], "sersic scores",
                      "the fiducial network's scores, labelled network=fiducial")
    others = table["network"] != "fiducial"
    if not others.any():
        raise InputError("sersic scores: network: only 'fiducial'; expected the networks trained on the Sersic "
                         "subsets too, labelled network=NAME,distribution=DIST,repeat=N")
    require_columns(table, ["distribution", "repeat"], "sersic scores",
                    "from the labels of the networks other than fiducial: network=NAME,distribution=DIST,repeat=N")
    unlabelled = table.loc[others & table[["distribution", "repeat"]].isna().any(axis=1), "network"].unique()
    if len(unlabelled):
        raise InputError(f"sersic scores: network(s) {', '.join(map(str, unlabelled))}: no distribution or repeat; "
                         f"expected labels network=NAME,distribution=DIST,repeat=N")
    mask = in_sample(table, sample)
    fid = table[mask & (table["network"] == "fiducial")]
    if fid.empty:
        raise InputError(f"sersic scores: no fiducial scores in sample {sample!r}; expected the sample's stamps "
                         f"among the scored ones")
    machine = set(fid.loc[fid["p_cnn"] >= fiducial_threshold, "object_id"])
    high = set(fid.loc[(fid["p_cnn"] >= fiducial_threshold) & fid.get("true_lens", False), "object_id"])
    rows = []
    nets = table[mask & (table["network"] != "fiducial")]
    for (dist, rep), part in nets.groupby(["distribution", "repeat"], sort=True):
        cand = set(part.loc[part["p_cnn"] >= threshold, "object_id"])
        rows.append({"distribution": dist, "repeat": int(rep), "n_candidates": len(cand),
                     "n_fiducial_machine": len(machine), "n_fiducial_high": len(high),
                     "overlap_machine_pct": overlap_pct(cand, machine), "overlap_high_pct": overlap_pct(cand, high),
                     "in_fiducial_pct": overlap_pct(machine, cand)})
    per_net = pd.DataFrame(rows)
    summary = []
    for dist, part in per_net.groupby("distribution", sort=True) if len(per_net) else []:
        summary.append({
            "distribution": dist, "n_networks": len(part), "threshold": threshold,
            "n_fiducial_machine": len(machine), "n_fiducial_high": len(high),
            "overlap_machine_pct_mean": part["overlap_machine_pct"].mean(),
            "overlap_machine_pct_std": part["overlap_machine_pct"].std(ddof=0),
            "overlap_high_pct_mean": part["overlap_high_pct"].mean(),
            "overlap_high_pct_std": part["overlap_high_pct"].std(ddof=0),
            "in_fiducial_pct_mean": part["in_fiducial_pct"].mean(),
            "n_candidates_mean": part["n_candidates"].mean(),
            "paper_overlap_machine_pct": PAPER["sersic_test"]["overlap_machine_pct"].get(dist, np.nan),
            "paper_overlap_high_pct": PAPER["sersic_test"]["overlap_high_pct"].get(dist, np.nan),
        })
    return per_net, pd.DataFrame(summary)


def net_comparison_tables(table: pd.DataFrame, full_sample: str | None, refined_sample: str | None,
                          refined_max_masked_fraction: float | None,
                          thresholds: Mapping[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 3: candidate counts M1-M4 of s-Net and r-Net on the full and refined samples, and overlaps.

    ``table`` holds the survey scores of both networks (column ``network``: ``s_net``, ``r_net``);
    either missing, or missing from ``thresholds``, raises :class:`InputError`.
    """
    require_columns(table, ["object_id", "p_cnn", "network"], "net-comparison scores")
    networks = list(dict.fromkeys(spec["network"] for spec in PAPER["net_comparison"]["cases"].values()))
    _require_networks(table, networks, "net-comparison scores",
                      f"files labelled {' and '.join(f'network={n}' for n in networks)}")
    missing = [n for n in networks if n not in thresholds]
    if missing:
        raise InputError(f"net-comparison thresholds: no threshold for network(s) {', '.join(missing)}; "
                         f"expected one for each of {', '.join(networks)}")
    samples = {"full": in_sample(table, full_sample),
               "refined": in_sample(table, refined_sample, refined_max_masked_fraction)}
    sets, rows = {}, []
    for i, (case, spec) in enumerate(PAPER["net_comparison"]["cases"].items()):
        net = spec["network"]
        mask = samples[spec["sample"]] & (table["network"] == net)
        part = table[mask]
        thr = float(thresholds[net])
        cand = part["p_cnn"] >= thr
        sets[f"M{i + 1}"] = set(part.loc[cand, "object_id"])
        true = part.get("true_lens", pd.Series(False, index=part.index))
        rows.append({"case": case, "candidates": f"M{i + 1}", "sample": spec["sample"], "network": net, "threshold": thr,
                     "n_sample": int(len(part)), "n_candidates": int(cand.sum()),
                     "fraction": float(cand.mean()) if len(part) else np.nan,
                     "n_true_lenses_in_sample": int(true.sum()), "n_true_lenses": int((cand & true).sum()),
                     "paper_n_candidates": spec["n_candidates"], "paper_n_high": spec["n_high"],
                     "paper_n_new": spec["n_new"]})
    overlaps = [{"pair": pair, "n_overlap": len(sets[pair[:2]] & sets[pair[3:]]),
                 "paper_n_overlap": value}
                for pair, value in PAPER["net_comparison"]["overlaps"].items()]
    return pd.DataFrame(rows), pd.DataFrame(overlaps)
