# Li et al. 2020's experiment, li2020_roc: its tables and figure (the named target is in
# experiments.smk, which includes this file; the shared rules and the helpers are there and in
# experiments_common.smk).


# --- li2020_roc: Li et al. 2020 section 2.3, Fig. 2, and section 3.1 --------


rule li2020_roc_sample:
    input:
        sim=exp_set_files("li2020_lenses", "fits"),
        sim_meta=exp_set_files("li2020_lenses", "parquet"),
        cubes=expand(P.stamp_cube, tile=TILES),
        indexes=expand(P.stamp_index, tile=TILES),
        truth=exp_truth(),
    output:
        cube=f"{EXP_DIR}/sets/li2020_test/shard_000.fits",
        index=f"{EXP_DIR}/sets/li2020_test/shard_000.parquet",
    params:
        sample=EXP["li2020_roc"]["sample"],
        n_pos=EXP["li2020_roc"]["n_positives"],
        n_neg=EXP["li2020_roc"]["n_negatives"],
        seed=EXP["li2020_roc"]["seed"],
        truth=exp_truth_option(),
    log:
        f"{EXP_DIR}/logs/li2020_roc_sample.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder experiment-roc-sample --sim {input.sim} --stamp-cubes {input.cubes} "
        "--stamp-index {input.indexes} {params.truth} --sample {params.sample} "
        "--n-positives {params.n_pos} --n-negatives {params.n_neg} --seed {params.seed} "
        "--out-cube {output.cube} --out-index {output.index} > {log} 2>&1"


rule li2020_roc_tables:
    input:
        f"{EXP_DIR}/li2020_roc/scores/li2020/li2020_test/shard_000.parquet",
    output:
        points=f"{EXP_DIR}/li2020_roc/tables/roc_points.parquet",
        hist=f"{EXP_DIR}/li2020_roc/tables/pcnn_hist.parquet",
        points_csv=report(
            f"{EXP_DIR}/li2020_roc/tables/roc_points.csv",
            caption="../report/experiments/li2020_roc.rst",
            category="Experiments",
            subcategory="ROC (Li et al. 2020, Fig. 2)",
        ),
        hist_csv=f"{EXP_DIR}/li2020_roc/tables/pcnn_hist.csv",
    params:
        thresholds=" ".join(str(t) for t in EXP["li2020_roc"]["thresholds"]),
    log:
        f"{EXP_DIR}/logs/tables/li2020_roc.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind li2020_roc --predictions {input} "
        "--thresholds {params.thresholds} --out {output.points} {output.hist} > {log} 2>&1"


rule li2020_survey_counts:
    input:
        predictions=exp_survey_scores("li2020_roc", "li2020"),
        indexes=expand(P.stamp_index, tile=TILES),
        truth=exp_truth(),
    output:
        table=f"{EXP_DIR}/li2020_roc/tables/survey_counts.parquet",
        csv=report(
            f"{EXP_DIR}/li2020_roc/tables/survey_counts.csv",
            caption="../report/experiments/survey_counts.rst",
            category="Experiments",
            subcategory="ROC (Li et al. 2020, Fig. 2)",
        ),
    params:
        labels=" ".join(["network=li2020"] * len(TILES)),
        thresholds=li_sample_thresholds(),
        truth=exp_truth_option(),
    log:
        f"{EXP_DIR}/logs/tables/survey_counts.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind survey_counts --predictions {input.predictions} "
        "--labels {params.labels} --stamp-index {input.indexes} {params.truth} "
        "--sample-thresholds {params.thresholds} --out {output.table} > {log} 2>&1"


rule li2020_roc_figure:
    input:
        roc=f"{EXP_DIR}/li2020_roc/metrics/li2020/li2020_test.roc.parquet",
        points=f"{EXP_DIR}/li2020_roc/tables/roc_points.parquet",
        hist=f"{EXP_DIR}/li2020_roc/tables/pcnn_hist.parquet",
    output:
        report(
            f"{EXP_DIR}/li2020_roc/figures/fig2_roc.png",
            caption="../report/experiments/li2020_roc.rst",
            category="Experiments",
            subcategory="ROC (Li et al. 2020, Fig. 2)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/li2020_roc.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind li2020_roc --tables {input.roc} {input.points} {input.hist} "
        "--out {output} > {log} 2>&1"
