"""Simulated training images: recipes, parameter draws, rendering, shards."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "Recipe": "recipes", "RECIPES": "recipes", "PARAMS": "recipes", "NEGATIVE_KINDS": "recipes",
    "recipe_params": "recipes", "draw_image_params": "draw", "rows_to_frame": "metadata",
    "render_images": "render", "render_from_metadata": "render", "simulate_shard": "shards",
    "draw_table": "shards", "simulate_mix_shard": "mix", "PAPER_RECIPES": "recipes",
    "image_entropy": "entropy", "shard_entropy_table": "entropy",
})
