# Stage 1: the survey: tiles (coadd, weight, mask per band of SURVEY_BANDS) and catalogue parts.

if SURVEY == "mock":

    # every band of the preset in one run: the bands share the objects, and the catalogue's colours
    rule mock_survey:
        output:
            images=expand(P.tile_image, band=SURVEY_BANDS, allow_missing=True),
            weights=expand(P.tile_weight, band=SURVEY_BANDS, allow_missing=True),
            masks=expand(P.tile_mask, band=SURVEY_BANDS, allow_missing=True),
            catalog=P.catalog_part,
            truth=P.truth,
        params:
            index=tile_index,
            seed=config["seed"],
            bands=" ".join(SURVEY_BANDS),
            overrides=set_options(MOCK_SETTINGS),
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
            "--bands {params.bands} --out-image {output.images} --out-weight {output.weights} "
            "--out-mask {output.masks} "
            "--out-catalog {output.catalog} --out-truth {output.truth} {params.overrides} > {log} 2>&1"

elif SURVEY == "legacy_dr10":

    # one cutout request per band of SURVEY_BANDS (g, r, z), the catalogue once
    rule download_legacy_field:
        output:
            images=expand(P.tile_image, band=SURVEY_BANDS, allow_missing=True),
            weights=expand(P.tile_weight, band=SURVEY_BANDS, allow_missing=True),
            masks=expand(P.tile_mask, band=SURVEY_BANDS, allow_missing=True),
            catalog=P.catalog_part,
        params:
            field=legacy_field_options,
            bands=" ".join(SURVEY_BANDS),
            psf_fwhm=config["legacy"]["psf_fwhm_arcsec"],
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
            "--tap-url {config[legacy][tap_url]} --cutout-url {config[legacy][cutout_url]} --psf-fwhm-arcsec {params.psf_fwhm} "
            "--cache-dir {config[legacy][cache_dir]:q} --retries {config[legacy][retries]} --bands {params.bands} "
            "--out-image {output.images} --out-weight {output.weights} --out-mask {output.masks} "
            "--out-catalog {output.catalog} > {log} 2>&1"

else:

    if TILES_FROM_ARCHIVE:

        # kids.tiles: all / kids.region: the tile list is made when the run starts,
        # and the rules that need every tile ask for it (common.smk: tile_files)
        checkpoint list_tiles:
            output:
                P.tile_list,
            params:
                release=RELEASE,
                selection=tile_selection_options(),
            log:
                "results/logs/list_tiles.log",
            resources:
                mem_mb=1000,
                runtime=360,
                tap_connections=1,
            retries: 2
            conda:
                "../../envs/survey.yaml"
            shell:
                "lensfinder list-tiles --release {params.release} {params.selection} --tap-url {config[kids][tap_url]} "
                "--retries {config[kids][retries]} --out {output} > {log} 2>&1"

    rule download_catalog:
        output:
            P.catalog_part,
        params:
            release=RELEASE,
            columns=catalog_columns_option(),
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
            "lensfinder download-catalog --release {params.release} --tile {wildcards.tile} {params.columns} "
            "--tap-url {config[kids][tap_url]} --retries {config[kids][retries]} --out {output} > {log} 2>&1"

    rule download_tile:
        output:
            image=P.tile_image,
            weight=P.tile_weight,
            mask=P.tile_mask,
        params:
            release=RELEASE,
            image_release=config["kids"]["image_release"],
        log:
            "results/logs/download_tile/{tile}.{band}.log",
        resources:
            mem_mb=2000,
            runtime=240,
            download_slots=1,
        retries: 2
        conda:
            "../../envs/survey.yaml"
        shell:
            "lensfinder download-tile --tile {wildcards.tile} --band {wildcards.band} --release {params.release} "
            "--image-release {params.image_release} --obscore-url {config[kids][obscore_url]} "
            "--cache-dir {config[kids][cache_dir]:q} --retries {config[kids][retries]} "
            "--out-image {output.image} --out-weight {output.weight} --out-mask {output.mask} > {log} 2>&1"


# The survey's tile names, one per line, when the config lists them (the list_tiles checkpoint's table
# serves when the archive does): the rules over every tile name their files by a {tile} pattern that
# `lensfinder STEP --tiles-from` expands, so that their commands do not grow with the survey.
if not TILES_FROM_ARCHIVE:

    rule tile_names:
        output:
            P.tile_names,
        params:
            tiles=TILES,
        log:
            "results/logs/tile_names.log",
        localrule: True
        conda:
            "../../envs/survey.yaml"
        shell:
            "printf '%s\\n' {params.tiles} > {output}.tmp 2> {log} && mv {output}.tmp {output}"


rule merge_catalog:
    input:
        parts=tile_files(P.catalog_part),
        tiles=TILE_NAMES,
    output:
        P.catalog,
    params:
        parts=tile_pattern(P.catalog_part),
    log:
        "results/logs/merge_catalog.log",
    resources:
        mem_mb=4000,
    conda:
        "../../envs/survey.yaml"
    shell:
        "lensfinder merge-catalog --tiles-from {input.tiles} --parts {params.parts:q} --out {output} > {log} 2>&1"
