# Stage 2: LRG and bright-galaxy preselection (per-row flags and cut flow): the whole catalogue's
# (the cut-flow table and figure), and each tile's, which its stamps read (the cuts are per object,
# so the two agree row for row; a tile's stamps then wait on nothing another tile changes).


rule preselect:
    input:
        P.catalog,
    output:
        flags=P.flags,
        cutflow=P.cutflow,
        cutflow_csv=P.cutflow_csv,
    params:
        release=RELEASE,
        mask_cut="--mask-cut" if config["preselection"]["mask_cut"] else "",
    log:
        "results/logs/preselect.log",
    resources:
        mem_mb=4000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder preselect --catalog {input} --release {params.release} {params.mask_cut} "
        "--out {output.flags} --cutflow {output.cutflow} > {log} 2>&1"


# Seconds of work on one Parquet part: beside Snakemake on a cluster (docs/cluster.md), not a job in the queue.
rule preselect_tile:
    localrule: True
    input:
        P.catalog_part,
    output:
        flags=P.tile_flags,
        cutflow=P.tile_cutflow,
        cutflow_csv=P.tile_cutflow_csv,
    params:
        release=RELEASE,
        mask_cut="--mask-cut" if config["preselection"]["mask_cut"] else "",
    log:
        "results/logs/preselect/{tile}.log",
    resources:
        mem_mb=1000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder preselect --catalog {input} --release {params.release} {params.mask_cut} "
        "--out {output.flags} --cutflow {output.cutflow} > {log} 2>&1"
