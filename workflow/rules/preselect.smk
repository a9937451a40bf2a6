# Stage 2: LRG and bright-galaxy preselection (per-row flags and cut flow), tile by tile: each tile's
# stamps read its own flags, so a tile added later leaves the other tiles' stamps and scores as they are;
# the whole catalogue's flags and cut flow (the cut-flow table and figure) are the tiles' put together
# (the cuts act per object: the same rows and counts as preselecting the merged catalogue, tested), so
# they agree with what the stamps read by construction and need not wait for the merged catalogue.


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


rule preselect:
    input:
        flags=tile_files(P.tile_flags),
        cutflows=tile_files(P.tile_cutflow),
        tiles=TILE_NAMES,
    output:
        flags=P.flags,
        cutflow=P.cutflow,
        cutflow_csv=P.cutflow_csv,
    params:
        flags=tile_pattern(P.tile_flags),
        cutflows=tile_pattern(P.tile_cutflow),
    log:
        "results/logs/preselect.log",
    resources:
        mem_mb=4000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder merge-preselection --tiles-from {input.tiles} --flags {params.flags:q} "
        "--cutflows {params.cutflows:q} "
        "--out {output.flags} --cutflow {output.cutflow} > {log} 2>&1"
