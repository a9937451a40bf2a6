# Stage 3: stamps of the preselected galaxies in every band the networks see (BANDS), aligned on
# the detection band; one cube (n, n_bands, ny, nx) per tile (docs/architecture.md). A tile's stamps
# read its own catalogue part and preselection flags only, so that a tile added to the search (or
# downloaded again) leaves every other tile's stamps and scores as they are.


rule stamps:
    input:
        images=band_tile_files(P.tile_image),
        weights=band_tile_files(P.tile_weight),
        masks=band_tile_files(P.tile_mask),
        catalog=P.catalog_part,
        flags=P.tile_flags,
    output:
        cube=P.stamp_cube,
        index=P.stamp_index,
    params:
        samples=" ".join(STAMP_SAMPLES),
        size=config["stamps"]["size"],
        bands=band_options,
    log:
        "results/logs/stamps/{tile}.log",
    benchmark:
        "results/benchmarks/stamps/{tile}.tsv"
    resources:
        mem_mb=3000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder stamps --image {input.images} {params.bands} "
        "--weight {input.weights} --mask {input.masks} "
        "--catalog {input.catalog} --flags {input.flags} --tile {wildcards.tile} "
        "--samples {params.samples} --size {params.size} "
        "--out-cube {output.cube} --out-index {output.index} > {log} 2>&1"
