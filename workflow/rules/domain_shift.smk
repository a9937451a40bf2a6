# The domain_shift experiment (issue 13): networks trained on each recipe,
# and the workflow's own network, scored on their own test sets and on an
# independent set rendered by lenstronomy/GalSim with morphologies and PSFs
# no recipe uses, lenses painted also on survey stamps of held-out tiles.
#
#   snakemake domain_shift --cores 2            (the default config: make run's network)
#
# Layout (results/experiments/domain_shift/):
#   sets/{dsset}/shard_NNN.{fits,parquet}      {net}_train, {net}_test, independent (a control's
#                                              {net}_train, {net}_test: the renderer's too)
#   models/{dsnet}.keras                       `training_seeds` networks per training set (NAME, NAME.seed2, ...)
#   scores/{dsnet}/{dsset}/shard_NNN.parquet   dsnet `default` = results/models/{net}.keras, an ensemble's
#                                              later members by their names
#   scores/ensemble/{own,independent}/shard_NNN.parquet   with inference.ensemble: its members' mean probability
#   tables/{summary,metrics,kinds,completeness,roc,seeds,top_negatives}.parquet + .csv, figures/domain_shift.png


include: "domain_shift_common.smk"


wildcard_constraints:
    dsset="|".join(re.escape(name) for name in DS_SETS),
    dsnet="|".join(re.escape(name) for name in [*DS_WORKFLOW_ROWS, *DS_NETS]),


rule domain_shift_simulate:
    input:
        unpack(ds_sim_input),
    output:
        cube=DSP.cube,
        meta=DSP.meta,
    wildcard_constraints:
        dsset="|".join(re.escape(name) for name in DS_SIM_SETS) or "NO_SETS",
    params:
        recipe=ds_recipe_options,
        n=ds_shard_size,
        seed=ds_seed,
        outdir=ds_set_dir,
        options=ds_sim_options,
    log:
        f"{DSP.logs}/simulate/{{dsset}}_{{shard}}.log",
    benchmark:
        f"{DSP.benchmarks}/simulate/{{dsset}}_{{shard}}.tsv"
    resources:
        mem_mb=3000,
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder simulate {params.recipe} --n {params.n} --seed {params.seed} "
        "--shard {wildcards.shard} --set-name {wildcards.dsset} --out {params.outdir} "
        "{params.options} > {log} 2>&1"


rule domain_shift_render:
    input:
        unpack(ds_independent_input),
    output:
        cube=DSP.cube,
        meta=DSP.meta,
    wildcard_constraints:
        dsset="|".join(re.escape(name) for name in DS_RENDER_SETS),
    params:
        n=ds_shard_size,
        seed=ds_seed,
        outdir=ds_set_dir,
        options=ds_independent_options,
    log:
        f"{DSP.logs}/render/{{dsset}}_{{shard}}.log",
    benchmark:
        f"{DSP.benchmarks}/render/{{dsset}}_{{shard}}.tsv"
    resources:
        mem_mb=2000,
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder domain-shift-render --n {params.n} --seed {params.seed} --shard {wildcards.shard} "
        "{params.options} --out-dir {params.outdir} > {log} 2>&1"


rule domain_shift_train:
    input:
        ds_train_input,
    output:
        model=DSP.model,
        settings=DSP.settings,
        history=DSP.history,
    params:
        options=ds_train_options(),
        seed=ds_train_seed,
        threads=EXP_TRAIN["threads"],  # TensorFlow's: the weights depend on it; `threads:` (capped by --cores) schedules
        checkpoints=DSP.checkpoints,
    log:
        f"{DSP.logs}/train/{{dsnet}}.log",
    benchmark:
        f"{DSP.benchmarks}/train/{{dsnet}}.tsv"
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


rule domain_shift_infer:
    input:
        unpack(ds_model_input),
        cube=DSP.cube,
        index=DSP.meta,
    output:
        DSP.scores,
    params:
        batch_size=EXP_TRAIN["batch_size_inference"],
        tta=config["inference"]["tta"],
        precision=config["inference"]["precision"],
    log:
        f"{DSP.logs}/infer/{{dsnet}}_{{dsset}}_{{shard}}.log",
    threads: EXP_TRAIN["threads_inference"]
    resources:
        mem_mb=4000,
        gpu=EXP_TRAIN["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder infer --stamps {input.cube} --index {input.index} --model {input.model} "
        "--batch-size {params.batch_size} --tta {params.tta} --precision {params.precision} --threads {threads} --out {output} > {log} 2>&1"


# The ensemble's row: the mean of its members' probabilities, image by image, from the scores of the
# rows beside it (what `lensfinder infer --ensemble` and the exported ensemble file compute, without
# scoring the networks twice).


rule domain_shift_ensemble:
    input:
        ds_ensemble_members,
    output:
        DSP.ensemble_scores,
    wildcard_constraints:
        ensset="own|independent",
    log:
        f"{DSP.logs}/combine/ensemble_{{ensset}}_{{shard}}.log",
    resources:
        mem_mb=1000,
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder combine-scores --predictions {input} --calibration none --out {output} > {log} 2>&1"


rule domain_shift_tables:
    input:
        unpack(ds_table_files),
    output:
        **DSP.tables,
        **DSP.other_csvs,
        summary_csv=report(
            DSP.summary_csv,
            caption="../report/domain_shift.rst",
            category="Experiments",
            subcategory="Independent validation (domain_shift)",
        ),
        seeds_csv=report(
            DSP.seeds_csv,
            caption="../report/domain_shift_seeds.rst",
            category="Experiments",
            subcategory="Independent validation (domain_shift)",
        ),
        top_negatives_csv=report(
            DSP.top_negatives_csv,
            caption="../report/domain_shift_top_negatives.rst",
            category="Experiments",
            subcategory="Independent validation (domain_shift)",
        ),
    params:
        labels=ds_table_labels(),
        train_labels=ds_train_labels(),
        threshold=DS["threshold"],
        subsets=ds_subset_options(),
    log:
        f"{DSP.logs}/tables.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder domain-shift-table --scores {input.scores} --score-labels {params.labels} "
        "--metadata {input.metadata} --train-metadata {input.train} --train-labels {params.train_labels} "
        "--threshold {params.threshold} {params.subsets} --out "
        + " ".join(f"{{output.{name}}}" for name in DS_TABLE_NAMES) + " > {log} 2>&1"


rule domain_shift_figure:
    input:
        summary=DSP.tables["summary"],
        roc=DSP.tables["roc"],
        kinds=DSP.tables["kinds"],
        completeness=DSP.tables["completeness"],
    output:
        report(
            DSP.figure,
            caption="../report/domain_shift.rst",
            category="Experiments",
            subcategory="Independent validation (domain_shift)",
        ),
    log:
        f"{DSP.logs}/figure.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder domain-shift-figure --tables {input.summary} {input.roc} {input.kinds} {input.completeness} "
        "--out {output} > {log} 2>&1"


rule domain_shift:
    input:
        DSP.summary_csv,
        DSP.figure,
