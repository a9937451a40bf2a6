# The bands_test experiment (issue 14): the same search with one band against several, per
# survey preset. Each preset's training and test sets are simulated once, in every band of the
# preset; one network sees the detection band alone (the papers' r), one all the bands; both
# score the same test images (and, with bands_test.independent, the domain_shift independent set).
#
#   snakemake bands_test --configfile config/experiments/quick.yaml --cores 2
#
# Layout (results/experiments/bands_test/):
#   sets/{btset}/shard_NNN.{fits,parquet}      {preset}_train, {preset}_test (all bands)
#   models/{btnet}.keras                       {preset}_{bands}: kids_r, kids_g-r-i, ...
#   scores/{btnet}/{btset}/shard_NNN.parquet
#   tables/metrics.{parquet,csv}, tables/colour_gain.{parquet,csv}, figures/bands_test.png


include: "bands_test_common.smk"


wildcard_constraints:
    btset="|".join(re.escape(name) for name in [*BT_SETS, BT_INDEPENDENT]),
    btnet="|".join(re.escape(name) for name in BT_NETS),


rule bands_test_simulate:
    output:
        cube=BTP.cube,
        meta=BTP.meta,
    wildcard_constraints:
        btset="|".join(re.escape(name) for name in BT_SETS),
    params:
        recipe=BT["recipe"],
        n=bt_shard_size,
        seed=bt_seed,
        outdir=bt_set_dir,
        options=bt_sim_options,
    log:
        f"{BTP.logs}/simulate/{{btset}}_{{shard}}.log",
    benchmark:
        f"{BTP.benchmarks}/simulate/{{btset}}_{{shard}}.tsv"
    resources:
        mem_mb=3000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder simulate --recipe {params.recipe} --n {params.n} --seed {params.seed} "
        "--shard {wildcards.shard} --set-name {wildcards.btset} --out {params.outdir} "
        "{params.options} > {log} 2>&1"


rule bands_test_train:
    input:
        bt_train_input,
    output:
        model=BTP.model,
        settings=BTP.settings,
        history=BTP.history,
    params:
        options=bt_train_options,
        seed=bt_train_seed,
        threads=EXP_TRAIN["threads"],  # TensorFlow's: the weights depend on it; `threads:` (capped by --cores) schedules
        checkpoints=BTP.checkpoints,
    log:
        f"{BTP.logs}/train/{{btnet}}.log",
    benchmark:
        f"{BTP.benchmarks}/train/{{btnet}}.tsv"
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


use rule experiment_infer as bands_test_infer with:
    input:
        unpack(bt_infer_input),
    output:
        BTP.scores,
    log:
        f"{BTP.logs}/infer/{{btnet}}_{{btset}}_{{shard}}.log",
    benchmark:
        f"{BTP.benchmarks}/infer/{{btnet}}_{{btset}}_{{shard}}.tsv"


rule bands_test_table:
    input:
        unpack(bt_table_files),
    output:
        metrics=BTP.metrics,
        metrics_csv=report(
            BTP.metrics_csv,
            caption="../report/bands_test.rst",
            category="Experiments",
            subcategory="One band against several (bands_test)",
        ),
        gain=BTP.gain,
        gain_csv=report(
            BTP.gain_csv,
            caption="../report/bands_test.rst",
            category="Experiments",
            subcategory="One band against several (bands_test)",
        ),
    params:
        labels=bt_score_labels(),
    log:
        f"{BTP.logs}/table.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder bands-test-table --scores {input.scores} --score-labels {params.labels} "
        "--labels {input.labels} --out {output.metrics} --out-gain {output.gain} > {log} 2>&1"


rule bands_test_figure:
    input:
        BTP.metrics,
    output:
        report(
            BTP.figure,
            caption="../report/bands_test.rst",
            category="Experiments",
            subcategory="One band against several (bands_test)",
        ),
    log:
        f"{BTP.logs}/figure.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder bands-test-figure --metrics {input} --out {output} > {log} 2>&1"


rule bands_test:
    input:
        BTP.metrics_csv,
        BTP.gain_csv,
        BTP.figure,
