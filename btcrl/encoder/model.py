"""The masked autoencoder: a small transformer over bar tokens.

A window of W feature rows (W tokens of F features each) is embedded token by token, a
learned mask token replaces the masked ones, a learned position embedding is added, and a
pre-norm transformer encoder mixes the tokens. A linear head reconstructs every token's F
features; the training loss looks at the masked tokens only. ``embed`` (no masking) mean-pools
the encoded tokens into one ``d_model`` vector per window: what a policy reads.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EncoderShape:
    """Everything needed to rebuild the module before loading its state dict."""

    n_features: int
    window: int
    d_model: int
    n_heads: int
    n_layers: int
    dim_feedforward: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class MaskedEncoder(nn.Module):
    """Transformer encoder over (batch, window, features) float32 tensors."""

    def __init__(self, shape: EncoderShape) -> None:
        super().__init__()
        self.shape = shape
        self.token = nn.Linear(shape.n_features, shape.d_model)
        self.position = nn.Parameter(torch.randn(1, shape.window, shape.d_model) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, shape.d_model))
        layer = nn.TransformerEncoderLayer(
            shape.d_model,
            shape.n_heads,
            shape.dim_feedforward,
            dropout=0.0,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, shape.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(shape.d_model)
        self.head = nn.Linear(shape.d_model, shape.n_features)

    def encode(self, windows: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, W, F) -> (B, W, d_model); ``mask`` (B, W) bool marks tokens to hide."""
        tokens = self.token(windows)
        if mask is not None:
            tokens = torch.where(mask[..., None], self.mask_token.expand_as(tokens), tokens)
        return self.norm(self.encoder(tokens + self.position))

    def forward(self, windows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reconstruction (B, W, F) of every token from the masked window."""
        return self.head(self.encode(windows, mask))

    def embed(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, W, F) -> (B, d_model): the mean of the unmasked window's encoded tokens."""
        return self.encode(windows).mean(dim=1)


def random_mask(batch: int, window: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(batch, window) bool with exactly ``round(ratio x window)`` True per row (at least 1)."""
    n_masked = max(1, min(window - 1, round(ratio * window)))
    scores = torch.rand(batch, window, generator=generator)
    ranks = scores.argsort(dim=1).argsort(dim=1)
    return ranks < n_masked


def masked_mse(
    reconstruction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Mean squared error over the masked tokens' features only."""
    error = (reconstruction - target) ** 2
    weights = mask[..., None].to(error.dtype)
    return (error * weights).sum() / (weights.sum() * target.shape[-1])


def window_mean_baseline(windows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The trivial reconstruction: every masked token predicted as the mean of the visible
    tokens of its window (per feature)."""
    visible = (~mask)[..., None].to(windows.dtype)
    mean = (windows * visible).sum(dim=1, keepdim=True) / visible.sum(dim=1, keepdim=True)
    return mean.expand_as(windows)
