"""Train the masked autoencoder on windows of one train span (pure: no files, no MLflow).

Windows end on rows of the feature set handed in, which the caller cuts to the train span
(``btcrl train``'s train split, or a walk-forward segment's train window): nothing after it
is read. The last ``holdout_fraction`` of the window ends (in time) is kept out of the
gradient steps; the reconstruction loss on them is compared with the window-mean baseline.
Seeded: the same inputs, config and seed give the same weights on CPU.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from btcrl.config.pretrain import PretrainConfig
from btcrl.encoder.model import (
    EncoderShape,
    MaskedEncoder,
    masked_mse,
    random_mask,
    window_mean_baseline,
)
from btcrl.encoder.windows import gather_windows, window_ends
from btcrl.errors import DataError
from btcrl.features.spec import FeatureSet

log = logging.getLogger(__name__)

#: (step, {"loss/train": ..., "loss/holdout": ..., "loss/baseline": ...}) after each evaluation
OnEval = Callable[[int, dict[str, float]], None]
HOLDOUT_MASK_SEED = 12345


@dataclass
class PretrainResult:
    """The trained encoder and what its training measured."""

    model: MaskedEncoder
    shape: EncoderShape
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    samples_per_second: float = 0.0
    train_windows: int = 0
    holdout_windows: int = 0

    @property
    def final(self) -> dict[str, float]:
        """The last evaluation's losses."""
        return self.history[-1][1] if self.history else {}


def split_ends(ends: np.ndarray, holdout_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train ends, holdout ends): the held-out windows are the latest ``holdout_fraction``
    of the window ends (train windows may share bars with the first held-out windows)."""
    n_holdout = int(len(ends) * holdout_fraction)
    if len(ends) - n_holdout < 1:
        raise DataError(f"{len(ends)} windows leave none to train on")
    return ends[: len(ends) - n_holdout], ends[len(ends) - n_holdout :]


def evaluate(
    model: MaskedEncoder, windows: torch.Tensor, ratio: float, batch_size: int
) -> tuple[float, float]:
    """(masked MSE of the model, masked MSE of the window-mean baseline) on ``windows`` with a
    fixed mask draw."""
    generator = torch.Generator().manual_seed(HOLDOUT_MASK_SEED)
    model_sum = base_sum = 0.0
    with torch.no_grad():
        for start in range(0, windows.shape[0], batch_size):
            batch = windows[start : start + batch_size]
            mask = random_mask(batch.shape[0], batch.shape[1], ratio, generator).to(batch.device)
            weight = batch.shape[0]
            model_sum += float(masked_mse(model(batch, mask), batch, mask)) * weight
            base_sum += float(masked_mse(window_mean_baseline(batch, mask), batch, mask)) * weight
    return model_sum / windows.shape[0], base_sum / windows.shape[0]


def pretrain_encoder(
    features: FeatureSet,
    config: PretrainConfig,
    *,
    seed: int,
    device: str = "cpu",
    on_eval: OnEval | None = None,
) -> PretrainResult:
    """Train a :class:`MaskedEncoder` on every full window of ``features``' valid rows."""
    torch.manual_seed(seed)
    values = np.ascontiguousarray(features.features, dtype=np.float32)
    ends = window_ends(features, config.window)
    train_ends, holdout_ends = split_ends(ends, config.holdout_fraction)
    shape = EncoderShape(
        values.shape[1],
        config.window,
        config.d_model,
        config.n_heads,
        config.n_layers,
        config.dim_feedforward,
    )
    model = MaskedEncoder(shape).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.steps)
    holdout = torch.from_numpy(gather_windows(values, holdout_ends, config.window)).to(device)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    result = PretrainResult(
        model, shape, train_windows=len(train_ends), holdout_windows=len(holdout_ends)
    )
    started, running = time.perf_counter(), 0.0
    for step in range(1, config.steps + 1):
        ends = train_ends[rng.integers(0, len(train_ends), config.batch_size)]
        batch = torch.from_numpy(gather_windows(values, ends, config.window)).to(device)
        mask = random_mask(batch.shape[0], config.window, config.mask_ratio, generator).to(device)
        model.train()
        loss = masked_mse(model(batch, mask), batch, mask)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        value = loss.item()
        running = value if step == 1 else 0.9 * running + 0.1 * value
        if step % config.eval_every == 0 or step == config.steps:
            result.history.append((step, _evaluate_step(model, holdout, config, running)))
            if on_eval is not None:
                on_eval(step, result.history[-1][1])
    elapsed = time.perf_counter() - started
    result.samples_per_second = config.steps * config.batch_size / max(elapsed, 1e-9)
    model.eval()
    return result


def _evaluate_step(
    model: MaskedEncoder, holdout: torch.Tensor, config: PretrainConfig, running: float
) -> dict[str, float]:
    model.eval()
    metrics = {"loss/train": running}
    if holdout.shape[0]:
        held, base = evaluate(model, holdout, config.mask_ratio, config.batch_size)
        metrics.update({"loss/holdout": held, "loss/baseline": base})
    return metrics
