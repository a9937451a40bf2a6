# Stage 3: 101x101 r-band stamps of the preselected galaxies, one job per tile.


rule stamps:
    input:
        image=P.tile_image,
        weight=P.tile_weight,
        mask=P.tile_mask,
        catalog=P.catalog,
        flags=P.flags,
    output:
        cube=P.stamp_cube,
        index=P.stamp_index,
    params:
        samples=" ".join(STAMP_SAMPLES),
        size=config["stamps"]["size"],
    log:
        "results/logs/stamps/{tile}.log",
    benchmark:
        "results/benchmarks/stamps/{tile}.tsv"
    resources:
        mem_mb=3000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder stamps --image {input.image} --weight {input.weight} --mask {input.mask} "
        "--catalog {input.catalog} --flags {input.flags} --tile {wildcards.tile} "
        "--samples {params.samples} --size {params.size} "
        "--out-cube {output.cube} --out-index {output.index} > {log} 2>&1"
