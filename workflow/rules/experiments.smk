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
# This file: the shared simulate / subset / train / score rules and the named targets; each paper's
# tables and figures are in experiments_he2020.smk and experiments_li2020.smk, included below.


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
        threads=EXP_TRAIN["threads"],  # TensorFlow's: the weights depend on it; `threads:` (capped by --cores) schedules
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
        "--threads {params.threads} > {log} 2>&1"


# The paper experiments' one scoring command, without TTA as the papers score; the survey tiles' scoring
# (experiment_infer_survey) and bands_test's (bands_test.smk) are this rule with other files.
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
        precision=config["inference"]["precision"],
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
        "--batch-size {params.batch_size} --tta none --precision {params.precision} --threads {threads} --out {output} > {log} 2>&1"


rule experiment_evaluate:
    input:
        predictions=exp_score_files,
        labels=exp_label_files,
    output:
        metrics=f"{EXP_DIR}/{{exp}}/metrics/{{model}}/{{eset}}.parquet",
        roc=f"{EXP_DIR}/{{exp}}/metrics/{{model}}/{{eset}}.roc.parquet",
        metrics_csv=f"{EXP_DIR}/{{exp}}/metrics/{{model}}/{{eset}}.csv",
        roc_csv=f"{EXP_DIR}/{{exp}}/metrics/{{model}}/{{eset}}.roc.csv",
    params:
        thresholds=exp_eval_thresholds,
    log:
        f"{EXP_DIR}/logs/evaluate/{{exp}}_{{model}}_{{eset}}.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder evaluate --predictions {input.predictions} --labels {input.labels} "
        "--out {output.metrics} --roc {output.roc} --thresholds {params.thresholds} > {log} 2>&1"


use rule experiment_infer as experiment_infer_survey with:
    input:
        cube=P.stamp_cube,
        index=P.stamp_index,
        model=f"{EXP_DIR}/{{exp}}/models/{{model}}.keras",
        settings=f"{EXP_DIR}/{{exp}}/models/{{model}}.json",
    output:
        f"{EXP_DIR}/{{exp}}/survey/{{model}}/{{tile}}.parquet",
    log:
        f"{EXP_DIR}/logs/infer_survey/{{exp}}_{{model}}_{{tile}}.log",
    benchmark:
        f"{EXP_DIR}/benchmarks/infer_survey/{{exp}}_{{model}}_{{tile}}.tsv"


# --- each paper's tables and figures ------------------------------------------


include: "experiments_he2020.smk"
include: "experiments_li2020.smk"


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
