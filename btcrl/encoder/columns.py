"""A frozen pre-trained encoder as observation columns: how an SBX (JAX) policy reads it.

SBX policies are flax networks, which cannot hold a torch features extractor. A frozen
encoder's embedding of row t depends on the feature rows ``t-W+1 .. t`` only (never on the
account or on a later row), so it is computed once per feature set and appended as
``d_model`` columns (``embedding_0 ..``): :func:`embedded_features`. The learner's env runs
over that set with ``env.window = 1``; its observation is ``[account_0, features[t],
embedding[t], account_1]`` and the SBX policy is a plain MLP over it.

Everything outside the learner sees the model as an SB3 encoder model: a windowed
observation ``[account_0, features[t-W+1 .. t], account_1]`` (``env.window = W``), turned
into the policy's input by :class:`EncoderColumns` (:func:`embedded_observations`). The
encoder's weights travel inside the SBX policy (:func:`attach_encoder`, attribute
``ENCODER_ATTRIBUTE``), which SBX pickles into the model zip: checkpoints, ``--resume``,
the registry and the pyfunc all carry the encoder with the policy.
"""

import weakref
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from btcrl.config.env import EnvConfig
from btcrl.encoder.model import EncoderShape, MaskedEncoder
from btcrl.encoder.windows import gather_windows
from btcrl.errors import CompatibilityError
from btcrl.features.spec import ColumnSpec, FeatureSet

#: the SBX policy attribute holding the encoder: {"shape": {...}, "state": {name: ndarray}}
ENCODER_ATTRIBUTE = "btcrl_encoder"
EMBED_BATCH = 2048  # windows per torch pass (memory: EMBED_BATCH x W x F float32)
ACCOUNT_COLUMNS = 2

_modules: "weakref.WeakKeyDictionary[Any, EncoderColumns]" = weakref.WeakKeyDictionary()


def embed_rows(encoder: MaskedEncoder, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """float32 (len(rows), d_model): embeddings of the windows ending on ``rows`` of the (T, F)
    feature array ``values`` (rows ``row - W + 1 .. row`` each), in batches of EMBED_BATCH."""
    window = encoder.shape.window
    parts = [np.zeros((0, encoder.shape.d_model), np.float32)]
    with torch.no_grad():
        for start in range(0, len(rows), EMBED_BATCH):
            windows = gather_windows(values, rows[start : start + EMBED_BATCH], window)
            parts.append(encoder.embed(torch.from_numpy(windows)).numpy())
    return np.concatenate(parts)


def embedding_columns(d_model: int) -> tuple[ColumnSpec, ...]:
    """The FeatureSpec columns of an embedding: ``embedding_0 .. embedding_{d-1}``."""
    return tuple(ColumnSpec(f"embedding_{k}", "embedding", "encoder") for k in range(d_model))


def embedded_features(features: FeatureSet, encoder: MaskedEncoder) -> FeatureSet:
    """``features`` with the encoder's embedding of every full window appended as columns
    (row t: the window of rows ``t-W+1 .. t``; rows before ``first_valid + W - 1`` hold 0 and
    are never observed: ``first_valid`` moves there). Observed with ``env.window = 1``, its
    first step is the windowed set's first step (``first_row(features, W)``)."""
    shape = encoder.shape
    values = np.ascontiguousarray(features.features, dtype=np.float32)
    if values.shape[1] != shape.n_features:
        raise CompatibilityError(
            f"the encoder reads {shape.n_features} features, not {values.shape[1]}"
        )
    start = features.first_valid + shape.window - 1
    rows = np.arange(start, len(features), dtype=np.int64)
    embedded = np.zeros((len(features), shape.d_model), np.float32)
    embedded[rows] = embed_rows(encoder, values, rows)
    columns = (*features.spec.columns, *embedding_columns(shape.d_model))
    return replace(
        features,
        features=np.ascontiguousarray(np.column_stack([values, embedded]), dtype=np.float32),
        first_valid=start,
        spec=replace(features.spec, columns=columns),
    )


def learner_inputs(
    features: FeatureSet, env: EnvConfig, encoder: MaskedEncoder | None
) -> tuple[FeatureSet, EnvConfig]:
    """What the learner's env runs over: ``(features, env)`` unchanged without an encoder,
    else the embedded set with ``env.window = 1`` (same first step, same bars)."""
    if encoder is None:
        return features, env
    return embedded_features(features, encoder), env.model_copy(update={"window": 1})


class EncoderColumns(nn.Module):
    """Windowed observation ``[account_0, W x F rows, account_1]`` -> the SBX policy's input
    ``[account_0, features[t], embedding, account_1]`` (the frozen encoder, eval mode)."""

    def __init__(self, encoder: MaskedEncoder) -> None:
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        shape = self.encoder.shape
        windows = observations[:, 1:-1].reshape(-1, shape.window, shape.n_features)
        embedding = self.encoder.embed(windows)
        last = windows[:, -1, :]
        return torch.cat([observations[:, :1], last, embedding, observations[:, -1:]], dim=1)


def encoder_weights(encoder: MaskedEncoder) -> dict[str, Any]:
    """The encoder as plain data (its shape and float32 NumPy state): what a policy keeps."""
    state = {k: v.detach().cpu().numpy().copy() for k, v in encoder.state_dict().items()}
    return {"shape": encoder.shape.to_dict(), "state": state}


def encoder_from_weights(weights: dict[str, Any]) -> MaskedEncoder:
    """The :class:`MaskedEncoder` (CPU, eval mode) that ``encoder_weights`` wrote."""
    encoder = MaskedEncoder(EncoderShape(**weights["shape"]))
    encoder.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights["state"].items()})
    return encoder.eval()


def attach_encoder(policy: Any, encoder: MaskedEncoder) -> None:
    """Keep ``encoder`` (frozen) inside an SBX ``policy``: saved and loaded with it."""
    setattr(policy, ENCODER_ATTRIBUTE, encoder_weights(encoder))
    _modules.pop(policy, None)


def policy_columns(policy: Any) -> EncoderColumns | None:
    """The :class:`EncoderColumns` of a policy that reads through an attached encoder (built
    once per policy object), or None for any other policy."""
    weights = getattr(policy, ENCODER_ATTRIBUTE, None)
    if weights is None:
        return None
    columns = _modules.get(policy)
    if columns is None:
        columns = EncoderColumns(encoder_from_weights(weights))
        _modules[policy] = columns
    return columns


def windowed_input_size(policy: Any) -> int | None:
    """The size of the windowed observation ``policy`` takes through its attached encoder
    (``2 + W x F``; its own observation space is the embedded one), or None without one."""
    weights = getattr(policy, ENCODER_ATTRIBUTE, None)
    if weights is None:
        return None
    shape = weights["shape"]
    return ACCOUNT_COLUMNS + int(shape["window"]) * int(shape["n_features"])


def embedded_observations(policy: Any, obs: np.ndarray) -> np.ndarray:
    """``obs`` as ``policy`` reads it: windowed observations through its attached encoder
    (float32 (N, 2 + W x F) -> (N, 2 + F + d_model)); unchanged for any other policy."""
    columns = policy_columns(policy)
    if columns is None:
        return obs
    shape = columns.encoder.shape
    size = ACCOUNT_COLUMNS + shape.window * shape.n_features
    obs = np.asarray(obs, dtype=np.float32).reshape(-1, np.shape(obs)[-1])
    if obs.shape[1] != size:
        raise CompatibilityError(
            f"the policy reads {shape.window} x {shape.n_features} windows through its encoder "
            f"(observation size {size}), not observations of size {obs.shape[1]}"
        )
    with torch.no_grad():
        return columns(torch.from_numpy(np.ascontiguousarray(obs))).numpy()
