# Paper experiments as named targets (He et al. 2020; Li et al. 2020):
#
#   snakemake psf_test --configfile config/experiments/quick.yaml --cores 2
#   snakemake all_experiments --configfile config/experiments/paper.yaml --profile workflow/profiles/slurm
#
# Expensive work (simulation, training, scoring) is separate from the cheap
# aggregation into tables, and each figure reads only its tables. Layout:
#   results/experiments/sets/{eset}/shard_NNN.{fits,parquet}       simulated sets
#   results/experiments/{exp}/subsets/{subset}/                    parent subsets (temporary)
#   results/experiments/{exp}/models/{model}.keras                 networks
#   results/experiments/{exp}/scores|metrics/{model}/{eset}...     scores and metrics per set
#   results/experiments/{exp}/survey/{model}/{tile}.parquet        survey scores
#   results/experiments/<name>/tables/*.parquet + .csv, figures/*.png
# The fiducial s-Net (He et al. case a) lives in results/experiments/fiducial/.


include: "experiments_common.smk"


wildcard_constraints:
    eset="|".join(re.escape(name) for name in [*EXP_SETS, *EXP_DERIVED_SETS]),
    exp="fiducial|volume_test|sersic_test|net_comparison|li2020_roc",
    model=EXP_MODEL_PATTERN,
    subset=r"[A-Za-z0-9_.]+",


rule experiment_simulate:
    input:
        exp_sim_input,
    output:
        cube=f"{EXP_DIR}/sets/{{eset}}/shard_{{shard}}.fits",
        meta=f"{EXP_DIR}/sets/{{eset}}/shard_{{shard}}.parquet",
    wildcard_constraints:
        eset=EXP_SIM_SET_PATTERN,
    params:
        recipe=exp_sim_recipe,
        n=exp_sim_n,
        seed=exp_sim_seed,
        outdir=exp_sim_dir,
        overrides=exp_sim_options,
    log:
        f"{EXP_DIR}/logs/simulate/{{eset}}_{{shard}}.log",
    benchmark:
        f"{EXP_DIR}/benchmarks/simulate/{{eset}}_{{shard}}.tsv"
    resources:
        mem_mb=3000,
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder simulate --recipe {params.recipe} --n {params.n} --seed {params.seed} "
        "--shard {wildcards.shard} --set-name {wildcards.eset} --out {params.outdir} "
        "{params.overrides} > {log} 2>&1"


rule experiment_subset:
    input:
        exp_set_files("volume_parent", "fits"),
        exp_set_files("volume_parent", "parquet"),
    output:
        temp(directory(f"{EXP_DIR}/{{exp}}/subsets/{{subset}}")),
    params:
        n=exp_subset_n,
        seed=exp_subset_seed,
        distribution=exp_subset_distribution,
        n_shards=exp_subset_n_shards,
        columns=" ".join(EXP["sersic_test"]["sersic_columns"]),
        parent=exp_set_files("volume_parent", "fits"),
    log:
        f"{EXP_DIR}/logs/subset/{{exp}}_{{subset}}.log",
    resources:
        mem_mb=4000,
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder experiment-subset --parent {params.parent} --n {params.n} --seed {params.seed} "
        "--distribution {params.distribution} --sersic-columns {params.columns} "
        "--n-shards {params.n_shards} --name {wildcards.subset} --out-dir {output} > {log} 2>&1"


rule experiment_train:
    input:
        exp_train_input,
    output:
        model=f"{EXP_DIR}/{{exp}}/models/{{model}}.keras",
        settings=f"{EXP_DIR}/{{exp}}/models/{{model}}.json",
        history=f"{EXP_DIR}/{{exp}}/models/{{model}}.history.csv",
    params:
        options=exp_train_options,
        seed=exp_train_seed,
        checkpoints=f"{EXP_DIR}/{{exp}}/models/{{model}}_checkpoints",
    log:
        f"{EXP_DIR}/logs/train/{{exp}}_{{model}}.log",
    benchmark:
        f"{EXP_DIR}/benchmarks/train/{{exp}}_{{model}}.tsv"
    threads: EXP_TRAIN["threads"]
    resources:
        mem_mb=6000,
        runtime=600,
        gpu=EXP_TRAIN["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder train --shards {input} --out {output.model} --history {output.history} "
        "--checkpoint-dir {params.checkpoints} {params.options} --seed {params.seed} "
        "--threads {threads} > {log} 2>&1"


rule experiment_infer:
    input:
        cube=f"{EXP_DIR}/sets/{{eset}}/shard_{{shard}}.fits",
        index=f"{EXP_DIR}/sets/{{eset}}/shard_{{shard}}.parquet",
        model=f"{EXP_DIR}/{{exp}}/models/{{model}}.keras",
        settings=f"{EXP_DIR}/{{exp}}/models/{{model}}.json",
    output:
        f"{EXP_DIR}/{{exp}}/scores/{{model}}/{{eset}}/shard_{{shard}}.parquet",
    params:
        batch_size=EXP_TRAIN["batch_size_inference"],
    log:
        f"{EXP_DIR}/logs/infer/{{exp}}_{{model}}_{{eset}}_{{shard}}.log",
    benchmark:
        f"{EXP_DIR}/benchmarks/infer/{{exp}}_{{model}}_{{eset}}_{{shard}}.tsv"
    threads: EXP_TRAIN["threads_inference"]
    resources:
        mem_mb=4000,
        gpu=EXP_TRAIN["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder infer --stamps {input.cube} --index {input.index} --model {input.model} "
        "--batch-size {params.batch_size} --tta none --threads {threads} --out {output} > {log} 2>&1"


rule experiment_evaluate:
    input:
        predictions=exp_score_files,
        labels=exp_label_files,
    output:
        metrics=f"{EXP_DIR}/{{exp}}/metrics/{{model}}/{{eset}}.parquet",
        roc=f"{EXP_DIR}/{{exp}}/metrics/{{model}}/{{eset}}.roc.parquet",
    params:
        thresholds=exp_eval_thresholds,
    log:
        f"{EXP_DIR}/logs/evaluate/{{exp}}_{{model}}_{{eset}}.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder evaluate --predictions {input.predictions} --labels {input.labels} "
        "--out {output.metrics} --roc {output.roc} --thresholds {params.thresholds} > {log} 2>&1"


rule experiment_infer_survey:
    input:
        cube=P.stamp_cube,
        index=P.stamp_index,
        model=f"{EXP_DIR}/{{exp}}/models/{{model}}.keras",
        settings=f"{EXP_DIR}/{{exp}}/models/{{model}}.json",
    output:
        f"{EXP_DIR}/{{exp}}/survey/{{model}}/{{tile}}.parquet",
    params:
        batch_size=EXP_TRAIN["batch_size_inference"],
    log:
        f"{EXP_DIR}/logs/infer_survey/{{exp}}_{{model}}_{{tile}}.log",
    benchmark:
        f"{EXP_DIR}/benchmarks/infer_survey/{{exp}}_{{model}}_{{tile}}.tsv"
    threads: EXP_TRAIN["threads_inference"]
    resources:
        mem_mb=4000,
        gpu=EXP_TRAIN["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder infer --stamps {input.cube} --index {input.index} --model {input.model} "
        "--batch-size {params.batch_size} --tta none --threads {threads} --out {output} > {log} 2>&1"


# --- psf_test: He et al. section 5.1, Fig. 10 --------------------------------


rule psf_test_table:
    input:
        psf_metrics(),
    output:
        table=f"{EXP_DIR}/psf_test/tables/psf_test.parquet",
        csv=report(
            f"{EXP_DIR}/psf_test/tables/psf_test.csv",
            caption="../report/experiments/psf_test_table.rst",
            category="Experiments",
            subcategory="PSF test (He et al. 2020, Fig. 10)",
        ),
    params:
        labels=psf_labels(),
        reference=EXP["psf_test"]["reference_fwhm_arcsec"],
    log:
        f"{EXP_DIR}/logs/tables/psf_test.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind psf_test --metrics {input} --labels {params.labels} "
        "--reference-fwhm-arcsec {params.reference} --out {output.table} > {log} 2>&1"


rule psf_test_figure:
    input:
        f"{EXP_DIR}/psf_test/tables/psf_test.parquet",
    output:
        report(
            f"{EXP_DIR}/psf_test/figures/fig10_psf.png",
            caption="../report/experiments/psf_test.rst",
            category="Experiments",
            subcategory="PSF test (He et al. 2020, Fig. 10)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/psf_test.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind psf_test --tables {input} --out {output} > {log} 2>&1"


# --- volume_test: He et al. section 5.2, Figs. 11-13, Table 5 ---------------


rule volume_test_tables:
    input:
        volume_metrics(),
    output:
        points=f"{EXP_DIR}/volume_test/tables/points.parquet",
        points_csv=report(
            f"{EXP_DIR}/volume_test/tables/points.csv",
            caption="../report/experiments/volume_points.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    params:
        labels=volume_labels(),
        threshold=EXP["volume_test"]["threshold"],
        parent=EXP["volume_test"]["parent"]["n_images"],
    log:
        f"{EXP_DIR}/logs/tables/volume_points.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind volume_points --metrics {input} --labels {params.labels} "
        "--threshold {params.threshold} --parent-size {params.parent} --out {output.points} > {log} 2>&1"


rule volume_test_table5:
    input:
        volume_metrics(),
    output:
        table=f"{EXP_DIR}/volume_test/tables/table5.parquet",
        csv=report(
            f"{EXP_DIR}/volume_test/tables/table5.csv",
            caption="../report/experiments/volume_table5.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    params:
        labels=volume_labels(),
        threshold=EXP["volume_test"]["threshold"],
    log:
        f"{EXP_DIR}/logs/tables/volume_table5.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind volume_table5 --metrics {input} --labels {params.labels} "
        "--threshold {params.threshold} --out {output.table} > {log} 2>&1"


rule volume_test_valsize_table:
    input:
        valsize_metrics(),
    output:
        table=f"{EXP_DIR}/volume_test/tables/valsize.parquet",
        csv=report(
            f"{EXP_DIR}/volume_test/tables/valsize.csv",
            caption="../report/experiments/volume_valsize.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    params:
        labels=valsize_labels(),
    log:
        f"{EXP_DIR}/logs/tables/volume_valsize.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind volume_valsize --metrics {input} --labels {params.labels} "
        "--out {output.table} > {log} 2>&1"


rule volume_test_figure:
    input:
        f"{EXP_DIR}/volume_test/tables/points.parquet",
    output:
        report(
            f"{EXP_DIR}/volume_test/figures/fig11_fig12_volume.png",
            caption="../report/experiments/volume_points.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/volume.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind volume --tables {input} --out {output} > {log} 2>&1"


rule volume_test_table5_figure:
    input:
        f"{EXP_DIR}/volume_test/tables/table5.parquet",
    output:
        report(
            f"{EXP_DIR}/volume_test/figures/table5.png",
            caption="../report/experiments/volume_table5.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/volume_table5.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind volume_table5 --tables {input} --out {output} > {log} 2>&1"


rule volume_test_valsize_figure:
    input:
        f"{EXP_DIR}/volume_test/tables/valsize.parquet",
    output:
        report(
            f"{EXP_DIR}/volume_test/figures/fig13_valsize.png",
            caption="../report/experiments/volume_valsize.rst",
            category="Experiments",
            subcategory="Training-set volume (He et al. 2020, Figs. 11-13, Table 5)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/volume_valsize.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind volume_valsize --tables {input} --out {output} > {log} 2>&1"


# --- sersic_test: He et al. section 4.3.3, Table 4 ---------------------------


rule sersic_test_tables:
    input:
        predictions=sersic_predictions(),
        indexes=expand(P.stamp_index, tile=TILES),
        truth=exp_truth(),
    output:
        nets=f"{EXP_DIR}/sersic_test/tables/nets.parquet",
        nets_csv=f"{EXP_DIR}/sersic_test/tables/nets.csv",
        table4=f"{EXP_DIR}/sersic_test/tables/table4.parquet",
        table4_csv=report(
            f"{EXP_DIR}/sersic_test/tables/table4.csv",
            caption="../report/experiments/sersic_test.rst",
            category="Experiments",
            subcategory="Sersic-index distribution (He et al. 2020, Table 4)",
        ),
    params:
        labels=sersic_labels(),
        threshold=EXP["sersic_test"]["threshold"],
        fiducial_threshold=EXP["net_comparison"]["s_net_threshold"],
        sample=EXP["sersic_test"]["sample"],
        truth=exp_truth_option(),
    log:
        f"{EXP_DIR}/logs/tables/sersic_test.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind sersic_test --predictions {input.predictions} "
        "--labels {params.labels} --stamp-index {input.indexes} {params.truth} "
        "--threshold {params.threshold} --fiducial-threshold {params.fiducial_threshold} "
        "--sample {params.sample} --out {output.nets} {output.table4} > {log} 2>&1"


rule sersic_test_figure:
    input:
        nets=f"{EXP_DIR}/sersic_test/tables/nets.parquet",
        table4=f"{EXP_DIR}/sersic_test/tables/table4.parquet",
    output:
        report(
            f"{EXP_DIR}/sersic_test/figures/table4.png",
            caption="../report/experiments/sersic_test.rst",
            category="Experiments",
            subcategory="Sersic-index distribution (He et al. 2020, Table 4)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/sersic_test.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind sersic_test --tables {input.nets} {input.table4} "
        "--out {output} > {log} 2>&1"


# --- entropy: He et al. section 2, eq. 2 ------------------------------------


rule entropy_images:
    input:
        exp_set_files("fiducial", "fits"),
        exp_set_files("fiducial", "parquet"),
    output:
        f"{EXP_DIR}/entropy/tables/entropy_step.parquet",
    params:
        cubes=exp_set_files("fiducial", "fits"),
        max_images=entropy_max_images(),
    log:
        f"{EXP_DIR}/logs/entropy_images.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder entropy --shards {params.cubes} --max-images {params.max_images} --out {output} > {log} 2>&1"


rule entropy_table:
    input:
        f"{EXP_DIR}/entropy/tables/entropy_step.parquet",
    output:
        table=f"{EXP_DIR}/entropy/tables/entropy.parquet",
        csv=report(
            f"{EXP_DIR}/entropy/tables/entropy.csv",
            caption="../report/experiments/entropy.rst",
            category="Experiments",
            subcategory="Image entropy (He et al. 2020, section 2)",
        ),
    log:
        f"{EXP_DIR}/logs/tables/entropy.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind entropy --entropy {input} --out {output.table} > {log} 2>&1"


rule entropy_figure:
    input:
        f"{EXP_DIR}/entropy/tables/entropy.parquet",
    output:
        report(
            f"{EXP_DIR}/entropy/figures/entropy.png",
            caption="../report/experiments/entropy.rst",
            category="Experiments",
            subcategory="Image entropy (He et al. 2020, section 2)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/entropy.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind entropy --tables {input} --out {output} > {log} 2>&1"


# --- net_comparison: He et al. section 4.3.2, Table 3 ------------------------


rule net_comparison_tables:
    input:
        predictions=net_predictions(),
        indexes=expand(P.stamp_index, tile=TILES),
        truth=exp_truth(),
    output:
        table3=f"{EXP_DIR}/net_comparison/tables/table3.parquet",
        overlaps=f"{EXP_DIR}/net_comparison/tables/overlaps.parquet",
        table3_csv=report(
            f"{EXP_DIR}/net_comparison/tables/table3.csv",
            caption="../report/experiments/net_comparison.rst",
            category="Experiments",
            subcategory="s-Net vs r-Net (He et al. 2020, Table 3)",
        ),
        overlaps_csv=report(
            f"{EXP_DIR}/net_comparison/tables/overlaps.csv",
            caption="../report/experiments/net_comparison.rst",
            category="Experiments",
            subcategory="s-Net vs r-Net (He et al. 2020, Table 3)",
        ),
    params:
        labels=net_labels(),
        full=EXP["net_comparison"]["full_sample"],
        refined=EXP["net_comparison"]["refined_sample"],
        refined_mask=net_refined_option(),
        s_threshold=EXP["net_comparison"]["s_net_threshold"],
        r_threshold=EXP["net_comparison"]["r_net_threshold"],
        truth=exp_truth_option(),
    log:
        f"{EXP_DIR}/logs/tables/net_comparison.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind net_comparison --predictions {input.predictions} "
        "--labels {params.labels} --stamp-index {input.indexes} {params.truth} "
        "--sample {params.full} --refined-sample {params.refined} {params.refined_mask} "
        "--fiducial-threshold {params.s_threshold} --threshold {params.r_threshold} "
        "--out {output.table3} {output.overlaps} > {log} 2>&1"


rule net_comparison_figure:
    input:
        table3=f"{EXP_DIR}/net_comparison/tables/table3.parquet",
        overlaps=f"{EXP_DIR}/net_comparison/tables/overlaps.parquet",
    output:
        report(
            f"{EXP_DIR}/net_comparison/figures/table3.png",
            caption="../report/experiments/net_comparison.rst",
            category="Experiments",
            subcategory="s-Net vs r-Net (He et al. 2020, Table 3)",
        ),
    log:
        f"{EXP_DIR}/logs/figures/net_comparison.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-figure --kind net_comparison --tables {input.table3} {input.overlaps} "
        "--out {output} > {log} 2>&1"


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


# --- the papers' values, and the named targets -------------------------------


rule paper_reference:
    output:
        table=f"{EXP_DIR}/paper_reference.parquet",
        csv=report(
            f"{EXP_DIR}/paper_reference.csv",
            caption="../report/experiments/paper_reference.rst",
            category="Experiments",
        ),
    log:
        f"{EXP_DIR}/logs/tables/paper_reference.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder experiment-table --kind reference --out {output.table} > {log} 2>&1"


rule psf_test:
    input:
        experiment_targets("psf_test"),


rule volume_test:
    input:
        experiment_targets("volume_test"),


rule sersic_test:
    input:
        experiment_targets("sersic_test"),


rule entropy:
    input:
        experiment_targets("entropy"),


rule net_comparison:
    input:
        experiment_targets("net_comparison"),


rule li2020_roc:
    input:
        experiment_targets("li2020_roc"),


rule all_experiments:
    input:
        experiment_targets("all"),
