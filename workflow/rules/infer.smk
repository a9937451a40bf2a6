# Stage 6: score every stamp (one job per tile) and the simulated test set.


rule infer:
    input:
        cube="results/stamps/{tile}.fits",
        index="results/stamps/{tile}.parquet",
        model="results/models/{net}.keras",
        settings="results/models/{net}.json",
    output:
        "results/predictions/{net}/{tile}.parquet",
    params:
        batch_size=config["inference"]["batch_size"],
    log:
        "results/logs/infer/{net}_{tile}.log",
    benchmark:
        "results/benchmarks/infer/{net}_{tile}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=4000,
        gpu=config["training"]["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder infer --stamps {input.cube} --index {input.index} --model {input.model} "
        "--batch-size {params.batch_size} --threads {threads} --out {output} > {log} 2>&1"


rule infer_test:
    input:
        cube="results/sim/test/shard_{shard}.fits",
        index="results/sim/test/shard_{shard}.parquet",
        model="results/models/{net}.keras",
        settings="results/models/{net}.json",
    output:
        "results/eval/{net}/test_{shard}.parquet",
    params:
        batch_size=config["inference"]["batch_size"],
    log:
        "results/logs/infer_test/{net}_{shard}.log",
    threads: config["training"]["threads"]
    resources:
        mem_mb=4000,
        gpu=config["training"]["gpus"],
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder infer --stamps {input.cube} --index {input.index} --model {input.model} "
        "--batch-size {params.batch_size} --threads {threads} --out {output} > {log} 2>&1"


rule evaluate:
    input:
        predictions=expand("results/eval/{{net}}/test_{shard}.parquet", shard=sim_shards("test")),
        labels=sim_files("test", "parquet"),
    output:
        metrics="results/eval/{net}_metrics.parquet",
        metrics_csv=report(
            "results/eval/{net}_metrics.csv",
            caption="../report/metrics.rst",
            category="Network performance",
        ),
        roc="results/eval/{net}_roc.parquet",
        completeness="results/eval/{net}_completeness.parquet",
    log:
        "results/logs/evaluate/{net}.log",
    conda:
        "../../envs/learn.yaml"
    shell:
        "lensfinder evaluate --predictions {input.predictions} --labels {input.labels} "
        "--out {output.metrics} --roc {output.roc} --completeness {output.completeness} "
        "--thresholds 0.5 0.75 0.98 > {log} 2>&1"


rule collect_predictions:
    input:
        predictions=expand("results/predictions/{{net}}/{tile}.parquet", tile=TILES),
        indexes=expand("results/stamps/{tile}.parquet", tile=TILES),
        catalog="results/catalog/catalog.parquet",
    output:
        "results/predictions/{net}.parquet",
    log:
        "results/logs/collect_predictions/{net}.log",
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder collect-predictions --predictions {input.predictions} --stamp-index {input.indexes} "
        "--catalog {input.catalog} --out {output} > {log} 2>&1"
