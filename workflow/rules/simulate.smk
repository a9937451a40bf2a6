# Stage 4: simulated lenses and non-lenses, one job per shard.


rule simulate:
    input:
        hosts=sim_host_files("fits"),
        host_indexes=sim_host_files("parquet"),
        psf_tiles=sim_psf_tiles(),
        psf_catalogs=sim_psf_catalogs(),
    output:
        cube=P.sim_cube,
        meta=P.sim_meta,
    params:
        recipe=sim_recipe_options,
        n=sim_shard_size,
        seed=sim_seed,
        outdir=sim_dir,
        overrides=sim_overrides,
        psf=sim_psf_options,
    log:
        "results/logs/simulate/{simset}_{shard}.log",
    benchmark:
        "results/benchmarks/simulate/{simset}_{shard}.tsv"
    resources:
        mem_mb=3000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder simulate {params.recipe} --n {params.n} --seed {params.seed} "
        "--shard {wildcards.shard} --set-name {wildcards.simset} --out {params.outdir} "
        "{params.overrides} {params.psf} > {log} 2>&1"
