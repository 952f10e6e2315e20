"""A deterministic MLP actor as plain float32 arrays, for the compiled episode runner.

The deterministic action, as SB3's ``predict(obs, deterministic=True)`` computes it:

- PPO: ``clip(action_net(policy_net(obs)), low, high)``;
- SAC / TQC: ``low + 0.5 x (tanh(mu(latent_pi(obs))) + 1) x (high - low)``.

``MlpActor.forward`` is the float32 numpy reference of that computation; the compiled kernel
(``btcrl.env.episode_runner``) runs the same layers in the same order (with a rational tanh
in the hidden layers). Neither is bit-equal to torch (summation order differs), but both
agree with it to about 1e-6. ``btcrl.policy.sb3_mlp.mlp_from_policy`` reads an SB3 policy
into an ``MlpActor``; nothing here knows SB3 or torch.
"""

from dataclasses import dataclass

import numpy as np

IDENTITY, TANH, RELU = 0, 1, 2  # activation ids after a layer


@dataclass(frozen=True)
class MlpActor:
    """Dense layers ``x <- act_k(W_k x + b_k)`` and the action head.

    ``weights[k]`` float32 (out, in), ``biases[k]`` float32 (out,), ``activations[k]`` one of
    IDENTITY / TANH / RELU applied after layer k (the last layer is the action head and is
    IDENTITY). ``squashed``: tanh then rescale into [low, high] (SAC, TQC); else clipped to
    [low, high] (PPO). ``low`` / ``high`` float32 (action_dim,).
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activations: tuple[int, ...]
    squashed: bool
    low: np.ndarray
    high: np.ndarray

    @property
    def obs_size(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def action_size(self) -> int:
        return int(self.weights[-1].shape[0])

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions float32 (N, action_size) for observations float32 (N, obs)."""
        x = np.asarray(obs, dtype=np.float32)
        for w, b, act in zip(self.weights, self.biases, self.activations, strict=True):
            x = x @ w.T + b
            if act == TANH:
                x = np.tanh(x)
            elif act == RELU:
                x = np.maximum(x, np.float32(0.0))
        if self.squashed:
            x = np.tanh(x)
            return self.low + np.float32(0.5) * (x + np.float32(1.0)) * (self.high - self.low)
        return np.clip(x, self.low, self.high)

    def packed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flat float32 weights and biases, int64 layer widths (n_layers + 1,), int64
        activations (n_layers,)) as the compiled kernel reads them: for each layer its W
        transposed, (in, out) row-major, then b."""
        parts = [
            p for w, b in zip(self.weights, self.biases, strict=True) for p in (w.T.ravel(), b)
        ]
        flat = np.concatenate(parts).astype(np.float32)
        widths = np.array([self.obs_size, *(w.shape[0] for w in self.weights)], dtype=np.int64)
        return flat, widths, np.array(self.activations, dtype=np.int64)
