"""Let an SB3 policy read its observation window through a pre-trained encoder.

A windowed observation is ``[account_0, rows t-W+1 .. t of the features (W x F, row-major),
account_1]`` (``env.window = W``). The extractor encodes the window into one ``d_model``
vector and hands the policy network ``[account_0, embedding, account_1]``: the same layout
as a one-row observation with the embedding in place of the feature row, so the compiled
episode runner can precompute embeddings for every row and run the MLP head unchanged.
"""

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from btcrl.encoder.model import EncoderShape, MaskedEncoder
from btcrl.errors import CompatibilityError

ACCOUNT_COLUMNS = 2


def windowed_observation_size(shape: EncoderShape) -> int:
    """Length of the windowed observation the encoder reads."""
    return ACCOUNT_COLUMNS + shape.window * shape.n_features


class EncoderExtractor(BaseFeaturesExtractor):
    """Features extractor: windowed observation -> ``[account_0, embedding, account_1]``.

    ``trainable`` False freezes the encoder (its weights stay the pre-trained ones).
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        shape: dict[str, int],
        state: dict[str, Any],
        trainable: bool = False,
    ) -> None:
        encoder_shape = EncoderShape(**shape)
        expected = windowed_observation_size(encoder_shape)
        size = int(observation_space.shape[0])
        if size != expected:
            raise CompatibilityError(
                f"the encoder reads {encoder_shape.window} x {encoder_shape.n_features} "
                f"feature windows (observation size {expected}) but the env's observation "
                f"has size {size}: set env.window={encoder_shape.window} and the encoder's "
                "feature set"
            )
        super().__init__(observation_space, encoder_shape.d_model + ACCOUNT_COLUMNS)
        self.encoder = MaskedEncoder(encoder_shape)
        self.encoder.load_state_dict(state)
        self.encoder.requires_grad_(trainable)
        self.trainable = trainable

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        shape = self.encoder.shape
        windows = observations[:, 1:-1].reshape(-1, shape.window, shape.n_features)
        embedding = self.encoder.embed(windows)
        return torch.cat([observations[:, :1], embedding, observations[:, -1:]], dim=1)

    def apply(self, fn: Any) -> "EncoderExtractor":
        """No-op: SB3 re-initialises the features extractor through ``apply`` (PPO's
        orthogonal init), which would overwrite the pre-trained weights."""
        return self

    def train(self, mode: bool = True) -> "EncoderExtractor":
        """A frozen encoder stays in eval mode (no dropout today, but no surprises later)."""
        super().train(mode)
        if not self.trainable:
            self.encoder.eval()
        return self


def encoder_policy_kwargs(encoder: MaskedEncoder, trainable: bool) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` entries that put ``encoder`` in front of the policy network."""
    state = {name: tensor.detach().cpu().clone() for name, tensor in encoder.state_dict().items()}
    return {
        "features_extractor_class": EncoderExtractor,
        "features_extractor_kwargs": {
            "shape": encoder.shape.to_dict(),
            "state": state,
            "trainable": trainable,
        },
    }
