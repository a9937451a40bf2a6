"""The papers' reference values (He et al. 2020; Li et al. 2020): the one place they live.

Every experiment table puts these beside its own numbers in ``paper_*``
columns; each value names the section, table or figure it comes from.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from lensfinder.constants import KIDS_MEDIAN_PSF_FWHM_ARCSEC, THRESHOLDS

__all__ = ["PAPER", "reference_table"]

#: The papers' reference values, ``experiment -> quantity -> value``.
#: He et al. 2020 = MNRAS 497, 556; Li et al. 2020 = ApJ 899, 30.
PAPER: dict[str, dict] = {
    # He et al. 2020, section 5.1 and Fig. 10: validation PSFs of
    # (0.4 ... 2.0) x 0.65"; degradation "< 10%" (section 5.1), "less than
    # 8%" (section 6.1).
    "psf_test": {
        "reference_fwhm_arcsec": KIDS_MEDIAN_PSF_FWHM_ARCSEC,  # section 3.4
        "factors": [0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0],  # Fig. 10
        "n_lenses": 2000,
        "n_nonlenses": 2000,
        "max_degradation": 0.10,  # section 5.1
        "max_degradation_summary": 0.08,  # section 6.1
    },
    # He et al. 2020, section 5.2.1 and Table 5 (threshold 0.8). The
    # "error bar (x1e-4)" columns look like variances: a std of 1e-4 would
    # contradict the ~1% spread described in the text.
    "volume_test": {
        "parent_size": 1_000_000,
        "fractions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],  # Figs. 11-12
        "repeats": 5,  # x 4 validation sets: "the 20 sets" of each error bar
        "validation_sets": 4,
        "validation_size": 2000,
        "threshold": 0.8,  # Table 5
        "spread_completeness": 0.006,  # best - worst over sizes, section 5.2.1
        "spread_accuracy": 0.01,  # section 5.2.1
        "table5": {  # Table 5: accuracy, completeness and their error bars (x1e-4)
            "case0": {"accuracy": 0.984, "completeness": 0.969, "accuracy_error_1e4": 0.492, "completeness_error_1e4": 1.01},
            "case1": {"accuracy": 0.978, "completeness": 0.957, "accuracy_error_1e4": 0.978, "completeness_error_1e4": 2.00},
            "case2": {"accuracy": 0.987, "completeness": 0.975, "accuracy_error_1e4": 0.327, "completeness_error_1e4": 0.671},
            "case3": {"accuracy": 0.982, "completeness": 0.966, "accuracy_error_1e4": 0.913, "completeness_error_1e4": 1.88},
            "case4": {"accuracy": 0.977, "completeness": 0.956, "accuracy_error_1e4": 0.872, "completeness_error_1e4": 1.88},
        },
    },
    # He et al. 2020, section 4.3.3 and Table 4: 20 + 20 training sets of
    # 100,000 from the 1-million parent; overlaps with the fiducial s-Net's
    # 8,143 machine candidates and 48 high-probability candidates.
    "sersic_test": {
        "n_sets": 20,
        "set_size": 100_000,
        "overlap_machine_pct": {"flat": 78.73, "huertas_company": 77.80},  # Table 4
        "overlap_high_pct": {"flat": 81.25, "huertas_company": 80.31},  # Table 4
    },
    # He et al. 2020, section 2: entropy (eq. 2) of 50,000 training images
    # at 64x64, 8 bits; ImageNet 64x64 subset 7.11 +- 0.66.
    "entropy": {
        "positives": {"mean": 4.24, "std": 1.49},
        "negatives": {"mean": 4.07, "std": 1.43},
        "imagenet": {"mean": 7.11, "std": 0.66},
        "n_images": 50_000,
    },
    # He et al. 2020, section 4.3.2 and Table 3 (KiDS DR3 LRGs; thresholds
    # 0.999999 for s-Net, 0.5 for r-Net), and sections 4.1-4.2: 8,143
    # machine candidates -> 48 after inspection (27 new); semi-real 3,465 -> 17
    # (11 new).
    "net_comparison": {
        "cases": {  # Table 3, cases a-d (M1-M4)
            "a": {"sample": "full", "network": "s_net", "n_candidates": 8143, "n_high": 48, "n_new": 0},
            "b": {"sample": "refined", "network": "s_net", "n_candidates": 4744, "n_high": 38, "n_new": 0},
            "c": {"sample": "full", "network": "r_net", "n_candidates": 3465, "n_high": 32, "n_new": 17},
            "d": {"sample": "refined", "network": "r_net", "n_candidates": 2877, "n_high": 27, "n_new": 13},
        },
        # Table 3: candidates common to two of M1-M4
        "overlaps": {"M1&M2": 4744, "M1&M3": 1467, "M1&M4": 1211, "M2&M3": 965, "M2&M4": 965, "M3&M4": 2877},
        "thresholds": {"s_net": THRESHOLDS["he2020_simulated"], "r_net": THRESHOLDS["he2020_semireal"]},
        "n_lrg_full": 28_815,  # section 4 (DR3 LRG sample)
        "n_lrg_refined": 23_067,
        "survey": {"s_net_candidates": 8143, "s_net_high": 48, "s_net_new": 27,  # section 4.1
                   "r_net_candidates": 3465, "r_net_high": 17, "r_net_new": 11},  # section 4.2
    },
    # Li et al. 2020, section 2.3 and Fig. 2 (2,000 mock lenses + 2,000 LRG
    # galaxies; thresholds 0.25, 0.5, 0.75 marked; fraction of negatives
    # above 0.75 < 6.5%) and section 3.1 (2,848 LRG candidates = 2.24%,
    # 3,552 BG = 0.093%, 54 of 60 LinKS candidates = 90%).
    "li2020_roc": {
        "n_positives": 2000,
        "n_negatives": 2000,
        "thresholds": [0.25, 0.5, 0.75],  # Fig. 2
        "max_negative_fraction_above_0.75": 0.065,
        "lrg_threshold": THRESHOLDS["li2020_lrg"],
        "bg_threshold": THRESHOLDS["li2020_bg"],
        "lrg_candidates": 2848,  # section 3.1
        "lrg_fraction": 0.0224,
        "bg_candidates": 3552,
        "bg_fraction": 0.00093,
        "known_recovered": 54,  # section 3.1: LinKS candidates recovered
        "known_total": 60,
    },
}


def reference_table() -> pd.DataFrame:
    """All scalar reference values of :data:`PAPER` as ``experiment, quantity, value``.

    Nested keys are joined with dots (``table5.case0.accuracy``); lists are left out.
    """
    rows = []

    def walk(prefix, node, experiment):
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value, experiment)
        elif isinstance(node, (int, float)):
            rows.append({"experiment": experiment, "quantity": prefix, "value": float(node)})

    for experiment, block in PAPER.items():
        walk("", block, experiment)
    return pd.DataFrame(rows)
