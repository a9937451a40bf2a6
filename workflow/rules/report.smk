# Stage 9: figures, one rule per figure; they read result tables only, so a
# figure can be restyled without retraining anything. Seconds of work each:
# `localrule: True` runs them beside Snakemake, not as cluster jobs
# (docs/cluster.md), here and for the grades, cross-match and ranked list.


rule figure_roc:
    localrule: True
    input:
        roc=P.roc.format(net=NET),
        metrics=P.metrics.format(net=NET),
    output:
        report(figure("roc"), caption="../report/roc.rst", category="Network performance"),
    log:
        "results/logs/figures/roc.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind roc --inputs {input.roc} {input.metrics} --out {output} > {log} 2>&1"


rule figure_completeness:
    localrule: True
    input:
        P.completeness.format(net=NET),
    output:
        report(
            figure("completeness"),
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
    localrule: True
    input:
        P.history.format(net=NET),
    output:
        report(
            figure("learning_curve"),
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
    localrule: True
    input:
        P.collected.format(net=NET),
    params:
        thresholds=threshold_options(),
    output:
        report(figure("pcnn_samples"), caption="../report/pcnn_samples.rst", category="Search"),
    log:
        "results/logs/figures/pcnn_samples.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind pcnn_samples --inputs {input} {params.thresholds} --out {output} > {log} 2>&1"


rule figure_cutflow:
    localrule: True
    input:
        P.cutflow,
    output:
        report(figure("cutflow"), caption="../report/cutflow.rst", category="Search"),
    log:
        "results/logs/figures/cutflow.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind cutflow --inputs {input} --out {output} > {log} 2>&1"


rule figure_pcnn_vs_phuman:
    localrule: True
    input:
        P.ranked,
    output:
        report(figure("pcnn_vs_phuman"), caption="../report/pcnn_vs_phuman.rst", category="Candidates"),
    log:
        "results/logs/figures/pcnn_vs_phuman.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind pcnn_vs_phuman --inputs {input} --out {output} > {log} 2>&1"


rule figure_score_histogram:
    localrule: True
    input:
        P.ranked,
    params:
        scheme=config["inspection"]["scheme"],
    output:
        report(figure("score_histogram"), caption="../report/score_histogram.rst", category="Candidates"),
    log:
        "results/logs/figures/score_histogram.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind score_histogram --inputs {input} --scheme {params.scheme} --out {output} > {log} 2>&1"


rule figure_top_candidates:
    localrule: True
    input:
        ranked=P.ranked,
        indexes=expand(P.stamp_index, tile=TILES),
        cubes=expand(P.stamp_cube, tile=TILES),
    output:
        report(figure("top_candidates"), caption="../report/top_candidates.rst", category="Candidates"),
    log:
        "results/logs/figures/top_candidates.log",
    conda:
        "../../envs/inspect.yaml"
    shell:
        "lensfinder figures --kind top_candidates --inputs {input.ranked} {input.indexes} {input.cubes} "
        "--out {output} > {log} 2>&1"
