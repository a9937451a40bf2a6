# Stage 6: score every stamp (one job per network and about inference.tiles_per_job
# tiles: INFER_CHUNKS, cut by the tiles' names) and the simulated test set; calibrate each network on
# half of the test set, and combine the networks' calibrated probabilities
# into the search's p_CNN, tile by tile.


rule infer:
    input:
        cubes=chunk_files(P.stamp_cube),
        indexes=chunk_files(P.stamp_index),
        model=P.model,
        settings=P.model_settings,
    output:
        P.member_chunk,
    params:
        batch_size=config["inference"]["batch_size"],
        tta=config["inference"]["tta"],
        precision=config["inference"]["precision"],
    log:
        "results/logs/infer/{net}_{chunk}.log",
    benchmark:
        "results/benchmarks/infer/{net}_{chunk}.tsv"
    threads: config["inference"]["threads"] or config["training"]["threads"]
    resources:
        mem_mb=4000,
        gpu=config["training"]["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder infer --stamps {input.cubes} --index {input.indexes} --model {input.model} "
        "--batch-size {params.batch_size} --tta {params.tta} --precision {params.precision} --threads {threads} --out {output} > {log} 2>&1"


rule infer_test:
    input:
        cube=sim_path(P.sim_cube, "test"),
        index=sim_path(P.sim_meta, "test"),
        model=P.model,
        settings=P.model_settings,
    output:
        P.test_predictions,
    params:
        batch_size=config["inference"]["batch_size"],
        tta=config["inference"]["tta"],
        precision=config["inference"]["precision"],
    log:
        "results/logs/infer_test/{net}_{shard}.log",
    threads: config["inference"]["threads"] or config["training"]["threads"]
    resources:
        mem_mb=4000,
        gpu=config["training"]["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder infer --stamps {input.cube} --index {input.index} --model {input.model} "
        "--batch-size {params.batch_size} --tta {params.tta} --precision {params.precision} --threads {threads} --out {output} > {log} 2>&1"


rule evaluate:
    input:
        predictions=expand(P.test_predictions, shard=sim_shards("test"), allow_missing=True),
        labels=sim_files("test", "parquet"),
    output:
        metrics=P.metrics,
        metrics_csv=report(
            P.metrics_csv,
            caption="../report/metrics.rst",
            category="Network performance",
        ),
        roc=P.roc,
        completeness=P.completeness,
        roc_csv=P.roc_csv,
        completeness_csv=P.completeness_csv,
    log:
        "results/logs/evaluate/{net}.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder evaluate --predictions {input.predictions} --labels {input.labels} "
        "--out {output.metrics} --roc {output.roc} --completeness {output.completeness} "
        "--thresholds 0.5 0.75 0.98 > {log} 2>&1"


rule calibrate:
    input:
        predictions=member_test_predictions(0),
        labels=sim_files("test", "parquet"),
    output:
        calibration=P.calibration,
        summary=P.calibration_summary,
        summary_csv=report(P.calibration_csv, caption="../report/calibration.rst", category="Network performance"),
        reliability=P.reliability,
        reliability_csv=P.reliability_csv,
    params:
        method=config["inference"]["calibration"],
        seed=config["seed"],
    log:
        "results/logs/calibrate.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder calibrate --predictions {input.predictions} --labels {input.labels} --method {params.method} "
        "--seed {params.seed} --out {output.calibration} --summary {output.summary} "
        "--reliability {output.reliability} > {log} 2>&1"


# Seconds of work on one tile's score tables (a DR4 search has 1,006): beside Snakemake on a cluster
# (docs/cluster.md), not a job in the queue.
rule combine_scores:
    localrule: True
    input:
        predictions=member_chunk_predictions(0),
        calibration=P.calibration,
    output:
        P.predictions,
    wildcard_constraints:
        net=NET,
    log:
        "results/logs/combine_scores/{net}_{tile}.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder combine-scores --predictions {input.predictions} --calibration {input.calibration} "
        "--shard {wildcards.tile} --out {output} > {log} 2>&1"


rule collect_predictions:
    input:
        predictions=expand(P.predictions, tile=TILES, allow_missing=True),
        indexes=expand(P.stamp_index, tile=TILES),
        tiles=TILE_NAMES,
        catalog=P.catalog,
    output:
        P.collected,
    params:
        predictions=tile_pattern(P.predictions),
        indexes=tile_pattern(P.stamp_index),
    log:
        "results/logs/collect_predictions/{net}.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder collect-predictions --tiles-from {input.tiles} --predictions {params.predictions:q} "
        "--stamp-index {params.indexes:q} --catalog {input.catalog} --out {output} > {log} 2>&1"
