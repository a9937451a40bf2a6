# Stage 2: LRG and bright-galaxy preselection (per-row flags and cut flow).


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
