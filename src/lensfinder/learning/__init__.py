"""Learning: the networks, preprocessing, training, scoring and metrics of the lens finders."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "MODEL_NAMES": "models", "DEFAULT_INPUT_SIZE": "models", "RESNET18_N_PARAMETERS": "models",
    "build_model": "models", "he2020": "models", "he2020_half": "models", "resnet18": "models", "resnet18_n_parameters": "models",
    "expected_n_parameters": "models", "he2020_n_parameters": "models", "HE2020_N_PARAMETERS_BY_BANDS": "models",
    "save_model": "modelfiles", "load_model": "modelfiles", "file_hash": "modelfiles",
    "import_keras": "models", "lens_probability_column": "modelfiles",
    "PREPROCESS_METHODS": "preprocessing", "NORMALIZATIONS": "preprocessing",
    "resize_stamps": "preprocessing", "normalize": "preprocessing",
    "fill_nonfinite": "preprocessing", "preprocess": "preprocessing", "prepare_batch": "preprocessing",
    "settings_bands": "preprocessing", "input_channels": "preprocessing", "sky_statistics": "preprocessing",
    "prepare_and_measure": "preprocessing",
    "colour_residual_band": "residual", "match_sigmas": "residual", "resolve_colour_residual": "residual",
    "settings_residual": "residual", "settings_residual_match": "residual", "COLOUR_RESIDUAL_MATCHES": "residual",
    "SETTINGS_VERSION": "sidecar", "sidecar_path": "sidecar", "write_settings": "sidecar", "read_settings": "sidecar",
    "check_settings": "sidecar", "check_weights_hash": "sidecar", "settings_mismatch": "sidecar",
    "CubeReader": "datasets", "ShardSet": "datasets", "resolve_shards": "datasets",
    "toy_lens_images": "datasets", "write_toy_shard": "datasets",
    "HE2020_CASES": "config", "CLASS_BALANCE": "config", "TrainConfig": "config", "resolve_config": "config",
    "augment_batch": "stream", "split_rows": "stream", "TrainingStream": "stream",
    "set_threads": "runtime", "configure_tensorflow": "runtime",
    "ADAM_EPSILON": "training", "compile_model": "models", "train": "training",
    "DEFAULT_MAX_NAN_FRACTION": "inference", "Scorer": "inference", "load_scorer": "inference",
    "score_cube": "inference", "predict_shard": "inference", "predict_shards": "inference", "infer_files": "inference",
    "confusion": "metrics", "threshold_metrics": "metrics", "roc_curve": "metrics", "auroc": "metrics",
    "tpr_at_fp": "metrics", "tpr0": "metrics", "tpr10": "metrics", "completeness_in_bins": "metrics",
    "metrics_table": "metrics", "DEFAULT_THRESHOLDS": "metrics",
    "COMPLETENESS_COLUMNS": "evaluation", "evaluate_files": "evaluation",
    "collect_predictions": "predictions", "collect_prediction_files": "predictions",
    "SAMPLE_COLUMNS": "predictions",
})
