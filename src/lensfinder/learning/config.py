"""Training settings: :class:`TrainConfig`, the one home of their defaults, and He et al.'s cases."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from lensfinder.learning.models import DEFAULT_INPUT_SIZE, MODEL_NAMES
from lensfinder.learning.preprocessing import COLOUR_RESIDUAL_MATCHES, NORMALIZATIONS, PREPROCESS_METHODS

__all__ = ["HE2020_CASES", "CLASS_BALANCE", "LR_SCHEDULES", "TrainConfig", "resolve_config"]

#: He et al. 2020, section 5.2 and Table 5: case 0 (their default) is
#: learning rate 0.03, batch size 32, 50 epochs; case 1 lr 0.01; case 2 100
#: epochs; case 3 batch 64; case 4 lr 0.01 and batch 64.
HE2020_CASES = {
    "case0": {"learning_rate": 0.03, "batch_size": 32, "epochs": 50},
    "case1": {"learning_rate": 0.01, "batch_size": 32, "epochs": 50},
    "case2": {"learning_rate": 0.03, "batch_size": 32, "epochs": 100},
    "case3": {"learning_rate": 0.03, "batch_size": 64, "epochs": 50},
    "case4": {"learning_rate": 0.01, "batch_size": 64, "epochs": 50},
}
#: Class balance of the training batches (docs/learning.md).
CLASS_BALANCE = ("none", "weights", "balanced")
#: Learning-rate schedules: ``constant`` (He et al. 2020's fixed step) or
#: ``cosine`` (half-cosine decay to 0 over the run, no restarts; Loshchilov &
#: Hutter 2017, SGDR, as their single-cycle case).
LR_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings (stored in the model's JSON sidecar).

    The field defaults are the defaults of ``lensfinder train`` and of the
    workflow's ``training`` keys (workflow/schemas/config.schema.yaml; a test
    keeps them equal).

    Attributes
    ----------
    model : str
        Network name (:data:`lensfinder.learning.models.MODEL_NAMES`: ``he2020``, ``he2020_half``, ``resnet18``).
    epochs, batch_size : int
    learning_rate : float
        Adam step size.
    preprocess, normalization : str
        See :mod:`lensfinder.learning.preprocessing`.
    class_balance : str
        ``none``, ``weights`` or ``balanced``.
    augment : bool
        On-the-fly augmentation.
    val_fraction : float
        Fraction of images held out for validation (0 for none).
    seed : int
        Master seed.
    input_size : int or None
        Network input in pixels; None: the network's default (49 / 101).
    preset : str or None
        He et al. case the defaults came from.
    max_shift_pix : int
        Largest augmentation shift (network-input pixels).
    flux_jitter : float
        Half-width of the augmentation flux scale.
    min_arc_visible_snr : float
        Lenses whose metadata ``arc_visible_snr`` (the arc S/N where it outshines the rest of the
        light) is below this are left out of training and validation: arcs buried in their lens
        galaxy look like a plain galaxy labelled lens. 0 (the default): every lens; rows without
        the value (survey hosts, older shards) are kept.
    lr_schedule : str
        ``constant`` or ``cosine`` (:data:`LR_SCHEDULES`): the step decays from
        ``learning_rate`` to 0 along half a cosine over all ``epochs``.
    ema_momentum : float
        0 (the default): the model keeps its last weights. Above 0: Adam keeps an exponential
        moving average of the weights with this momentum (e.g. 0.99, about the last 100 steps;
        Polyak & Juditsky 1992) and the saved model holds the average.
    colour_residual : str
        A colour residual band among the network's input
        (:func:`lensfinder.learning.preprocessing.colour_residual_band`): ``auto`` (the default:
        g-r when the network sees g and r, else none), ``none``, or ``BLUE-RED`` (e.g. ``g-i``,
        two of the network's bands).
    colour_residual_match : str
        How the residual's red band is matched to its blue band (:mod:`lensfinder.learning.residual`):
        ``psf`` (the default: the sharper band blurred to the other's PSF, then scaled to the core)
        or ``scale`` (scaled alone: the networks trained before the PSF match).
    """

    model: str = "he2020"
    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 1e-3
    preprocess: str = "bin2_crop"
    normalization: str = "sky"
    class_balance: str = "none"
    augment: bool = True
    val_fraction: float = 0.1
    seed: int = 42
    input_size: int | None = None
    preset: str | None = None
    max_shift_pix: int = 2
    flux_jitter: float = 0.1
    min_arc_visible_snr: float = 0.0
    lr_schedule: str = "constant"
    ema_momentum: float = 0.0
    colour_residual: str = "auto"
    colour_residual_match: str = "psf"

    def __post_init__(self):
        checks = [
            (self.model in MODEL_NAMES, f"model {self.model!r}: expected one of {MODEL_NAMES}"),
            (self.preprocess in PREPROCESS_METHODS, f"preprocess {self.preprocess!r}: expected one of {PREPROCESS_METHODS}"),
            (self.normalization in NORMALIZATIONS, f"normalization {self.normalization!r}: expected one of {NORMALIZATIONS}"),
            (self.class_balance in CLASS_BALANCE, f"class_balance {self.class_balance!r}: expected one of {CLASS_BALANCE}"),
            (self.epochs >= 0, f"epochs: {self.epochs}, expected >= 0 (0: keep the init weights as they are)"),
            (self.batch_size >= 1, f"batch_size: {self.batch_size}, expected >= 1"),
            (self.learning_rate > 0, f"learning_rate: {self.learning_rate}, expected > 0"),
            (0 <= self.val_fraction < 1, f"val_fraction: {self.val_fraction}, expected 0 <= f < 1"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule {self.lr_schedule!r}: expected one of {LR_SCHEDULES}"),
            (0 <= self.ema_momentum < 1, f"ema_momentum: {self.ema_momentum}, expected 0 <= m < 1"),
            (self.colour_residual in ("auto", "none") or len(self.colour_residual.split("-")) == 2,
             f"colour_residual {self.colour_residual!r}: expected auto, none or BLUE-RED (e.g. g-r)"),
            (self.colour_residual_match in COLOUR_RESIDUAL_MATCHES,
             f"colour_residual_match {self.colour_residual_match!r}: expected one of {COLOUR_RESIDUAL_MATCHES}"),
            (self.min_arc_visible_snr >= 0, f"min_arc_visible_snr: {self.min_arc_visible_snr}, expected >= 0"),
            (self.preset is None or self.preset in HE2020_CASES, f"preset {self.preset!r}: expected one of {tuple(HE2020_CASES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def resolved_input_size(self) -> int:
        return int(self.input_size or DEFAULT_INPUT_SIZE[self.model])

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resume_key(self) -> str:
        """Hash of everything but ``epochs`` (a resumed run may train longer).

        With the cosine schedule ``epochs`` is in the hash: it sets the decay.
        """
        record = {k: v for k, v in self.as_dict().items() if k != "epochs" or self.lr_schedule != "constant"}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def resolve_config(preset: str | None = None, **options) -> TrainConfig:
    """A :class:`TrainConfig` from a He et al. preset overridden by explicit options.

    Options that are None are left to the preset, then to the defaults.
    """
    if preset and preset not in HE2020_CASES:
        raise ValueError(f"preset {preset!r}: expected one of {tuple(HE2020_CASES)}")
    values = dict(HE2020_CASES[preset]) if preset else {}
    values.update({k: v for k, v in options.items() if v is not None})
    return TrainConfig(preset=preset, **values)
