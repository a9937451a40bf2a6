# Stage 9: figures, one rule per figure; they read result tables only, so a
# figure can be restyled without retraining anything.


rule figure_roc:
    input:
        roc=f"results/eval/{NET}_roc.parquet",
        metrics=f"results/eval/{NET}_metrics.parquet",
    output:
        report("results/figures/roc.png", caption="../report/roc.rst", category="Network performance"),
    log:
        "results/logs/figures/roc.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind roc --inputs {input.roc} {input.metrics} --out {output} > {log} 2>&1"


rule figure_completeness:
    input:
        f"results/eval/{NET}_completeness.parquet",
    output:
        report(
            "results/figures/completeness.png",
            caption="../report/completeness.rst",
            category="Network performance",
        ),
    log:
        "results/logs/figures/completeness.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind completeness --inputs {input} --out {output} > {log} 2>&1"


rule figure_learning_curve:
    input:
        f"results/models/{NET}.history.csv",
    output:
        report(
            "results/figures/learning_curve.png",
            caption="../report/learning_curve.rst",
            category="Network performance",
        ),
    log:
        "results/logs/figures/learning_curve.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind learning_curve --inputs {input} --out {output} > {log} 2>&1"


rule figure_pcnn_samples:
    input:
        f"results/predictions/{NET}.parquet",
    params:
        thresholds=threshold_options(),
    output:
        report("results/figures/pcnn_samples.png", caption="../report/pcnn_samples.rst", category="Search"),
    log:
        "results/logs/figures/pcnn_samples.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind pcnn_samples --inputs {input} {params.thresholds} --out {output} > {log} 2>&1"


rule figure_cutflow:
    input:
        "results/preselect/cutflow.parquet",
    output:
        report("results/figures/cutflow.png", caption="../report/cutflow.rst", category="Search"),
    log:
        "results/logs/figures/cutflow.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind cutflow --inputs {input} --out {output} > {log} 2>&1"


rule figure_pcnn_vs_phuman:
    input:
        "results/candidates/ranked.parquet",
    output:
        report("results/figures/pcnn_vs_phuman.png", caption="../report/pcnn_vs_phuman.rst", category="Candidates"),
    log:
        "results/logs/figures/pcnn_vs_phuman.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind pcnn_vs_phuman --inputs {input} --out {output} > {log} 2>&1"


rule figure_top_candidates:
    input:
        ranked="results/candidates/ranked.parquet",
        indexes=expand("results/stamps/{tile}.parquet", tile=TILES),
        cubes=expand("results/stamps/{tile}.fits", tile=TILES),
    output:
        report("results/figures/top_candidates.png", caption="../report/top_candidates.rst", category="Candidates"),
    log:
        "results/logs/figures/top_candidates.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind top_candidates --inputs {input.ranked} {input.indexes} {input.cubes} "
        "--out {output} > {log} 2>&1"
