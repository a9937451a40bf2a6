# Stage 1: the survey: tiles (r-band coadd, weight, mask) and catalogue parts.

if SURVEY == "mock":

    rule mock_survey:
        output:
            image=P.tile_image,
            weight=P.tile_weight,
            mask=P.tile_mask,
            catalog=P.catalog_part,
            truth=P.truth,
        params:
            index=tile_index,
            seed=config["seed"],
            overrides=set_options(config["mock"]["params"]),
        log:
            "results/logs/mock_survey/{tile}.log",
        benchmark:
            "results/benchmarks/mock_survey/{tile}.tsv"
        resources:
            mem_mb=1500,
            runtime=20,
        conda:
            "../../envs/survey.yaml"
        shell:
            "lensfinder mock-survey --tile {wildcards.tile} --index {params.index} --seed {params.seed} "
            "--out-image {output.image} --out-weight {output.weight} --out-mask {output.mask} "
            "--out-catalog {output.catalog} --out-truth {output.truth} {params.overrides} > {log} 2>&1"

elif SURVEY == "legacy_dr10":

    rule download_legacy_field:
        output:
            image=P.tile_image,
            weight=P.tile_weight,
            mask=P.tile_mask,
            catalog=P.catalog_part,
        params:
            field=legacy_field_options,
            tap_url=config["legacy"]["tap_url"],
            cutout_url=config["legacy"]["cutout_url"],
            psf_fwhm=config["legacy"]["psf_fwhm_arcsec"],
            cache_dir=config["legacy"]["cache_dir"],
            retries=config["legacy"]["retries"],
        log:
            "results/logs/download_legacy_field/{tile}.log",
        resources:
            mem_mb=2000,
            runtime=60,
            download_slots=1,
        retries: 2
        conda:
            "../../envs/survey.yaml"
        shell:
            "lensfinder download-legacy-field --field {wildcards.tile} {params.field} "
            "--tap-url {params.tap_url} --cutout-url {params.cutout_url} --psf-fwhm-arcsec {params.psf_fwhm} "
            "--cache-dir {params.cache_dir} --retries {params.retries} "
            "--out-image {output.image} --out-weight {output.weight} --out-mask {output.mask} "
            "--out-catalog {output.catalog} > {log} 2>&1"

else:

    rule download_catalog:
        output:
            P.catalog_part,
        params:
            release=RELEASE,
            tap_url=config["kids"]["tap_url"],
            retries=config["kids"]["retries"],
        log:
            "results/logs/download_catalog/{tile}.log",
        resources:
            mem_mb=4000,
            runtime=120,
            tap_connections=1,
        retries: 2
        conda:
            "../../envs/survey.yaml"
        shell:
            "lensfinder download-catalog --release {params.release} --tile {wildcards.tile} "
            "--tap-url {params.tap_url} --retries {params.retries} --out {output} > {log} 2>&1"

    rule download_tile:
        output:
            image=P.tile_image,
            weight=P.tile_weight,
            mask=P.tile_mask,
        params:
            obscore_url=config["kids"]["obscore_url"],
            cache_dir=config["kids"]["cache_dir"],
            retries=config["kids"]["retries"],
        log:
            "results/logs/download_tile/{tile}.log",
        resources:
            mem_mb=2000,
            runtime=240,
            download_slots=1,
        retries: 2
        conda:
            "../../envs/survey.yaml"
        shell:
            "lensfinder download-tile --tile {wildcards.tile} --band r --obscore-url {params.obscore_url} "
            "--cache-dir {params.cache_dir} --retries {params.retries} "
            "--out-image {output.image} --out-weight {output.weight} --out-mask {output.mask} > {log} 2>&1"


rule merge_catalog:
    input:
        expand(P.catalog_part, tile=TILES),
    output:
        P.catalog,
    log:
        "results/logs/merge_catalog.log",
    resources:
        mem_mb=4000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder merge-catalog --parts {input} --out {output} > {log} 2>&1"
