"""A policy that reads through a pre-trained encoder, run compiled.

The encoder's embedding of row t depends on the feature rows ``t-W+1 .. t`` only, never on
the account, so one batched torch pass embeds every row of the episode first; the MLP head
then runs inside the compiled episode (``btcrl.env.episode_runner``) over an embedded
FeatureSet whose row t is the embedding of row t's window: the head sees ``[account_0,
embedding, account_1]``, exactly what ``EncoderExtractor`` hands it. The episode's
observations are given back as the windowed ones the torch path records.

An SBX policy with an attached frozen encoder (``btcrl.encoder.columns``) runs the same way:
its head reads ``[account_0, features[t], embedding, account_1]``, so the compiled episode runs
over ``embedded_features`` (the set its learner trained on) and the numba MLP just reads the
precomputed columns.
"""

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from btcrl.config.env import EnvConfig
from btcrl.encoder.columns import (
    EncoderColumns,
    embed_rows,
    embedded_features,
    embedding_columns,
    policy_columns,
)
from btcrl.encoder.extractor import EncoderExtractor
from btcrl.encoder.windows import gather_windows
from btcrl.env.episode_runner import run_compiled_episode
from btcrl.env.mlp import MlpActor
from btcrl.env.params import first_row
from btcrl.features.prior import EXPOSURE_COLUMN
from btcrl.features.spec import FeatureSet
from btcrl.policy.sb3_mlp import mlp_from_policy
from btcrl.policy.sbx_mlp import mlp_from_sbx_policy

log = logging.getLogger(__name__)


@dataclass
class EncodedMlpPolicy:
    """An encoder (``extractor``, CPU, eval mode) and the compiled MLP head behind it.

    ``extractor``: an SB3 ``EncoderExtractor`` (the head reads ``[account_0, embedding,
    account_1]``) or the ``EncoderColumns`` of an SBX policy (the head reads ``[account_0,
    features[t], embedding, account_1]``)."""

    actor: MlpActor
    extractor: EncoderExtractor | EncoderColumns
    name: str = "model"

    @property
    def window(self) -> int:
        return int(self.extractor.encoder.shape.window)

    @property
    def keeps_rows(self) -> bool:
        """True when the head reads the row's features next to the embedding (SBX)."""
        return isinstance(self.extractor, EncoderColumns)

    def embed(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """float32 (len(rows), d_model): embeddings of the windows ending on ``rows`` of the
        (T, F) feature array ``values``."""
        return embed_rows(self.extractor.encoder, values, rows)

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """float32 (N, 2 + W x F) windowed observations -> (N, 2) deterministic actions."""
        obs = np.asarray(obs, dtype=np.float32)
        with torch.no_grad():
            head = self.extractor(torch.from_numpy(obs)).numpy()
        return self.actor.forward(head)

    def act(self, row: int, obs: np.ndarray) -> np.ndarray:
        return self.forward(np.asarray(obs, dtype=np.float32)[None, :])[0]


def encoded_policy(
    sb3_policy: Any, predict: Any, name: str, rows: int, tolerance: float
) -> EncodedMlpPolicy | None:
    """An ``EncodedMlpPolicy`` for a policy that reads through a pre-trained encoder (an SB3
    policy whose features extractor is an ``EncoderExtractor``, or an SBX policy with an
    attached encoder) and whose head is a plain MLP, when it matches ``predict`` to
    ``tolerance`` on ``rows`` random windowed observations; else None."""
    found = _encoder_and_head(sb3_policy)
    if found is None:
        return None
    policy = EncodedMlpPolicy(found[1], found[0], name)
    shape = policy.extractor.encoder.shape
    size = 2 + shape.window * shape.n_features
    sample = np.random.default_rng(0).normal(0.0, 1.0, (rows, size)).astype(np.float32)
    gap = float(np.max(np.abs(policy.forward(sample) - np.asarray(predict(sample)))))
    if not gap <= tolerance:
        log.warning("compiled head of %s differs from torch by %g: stepping torch", name, gap)
        return None
    return policy


def _encoder_and_head(
    policy: Any,
) -> tuple[EncoderExtractor | EncoderColumns, MlpActor] | None:
    """(the encoder's reader, the compiled MLP head) of an encoder policy, or None."""
    columns = policy_columns(policy)
    if columns is not None:  # SBX: the head is the whole flax actor
        actor = mlp_from_sbx_policy(policy)
        return None if actor is None else (columns, actor)
    extractor = getattr(policy, "pi_features_extractor", None)
    if extractor is None:
        extractor = getattr(getattr(policy, "actor", None), "features_extractor", None)
    if not isinstance(extractor, EncoderExtractor):
        return None
    actor = mlp_from_policy(policy, extractor="EncoderExtractor")
    return None if actor is None else (extractor, actor)


def run_encoded_episode(
    features: FeatureSet, config: EnvConfig, policy: EncodedMlpPolicy, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windowed observations, actions, ledger) of ``policy`` over ``features`` from
    ``first_valid + W - 1``: embeddings for every row, then the compiled episode of the head."""
    window = policy.window
    start = first_row(features, window)
    values = np.ascontiguousarray(features.features, dtype=np.float32)
    rows = np.arange(start, len(features), dtype=np.int64)
    if policy.keeps_rows:  # SBX: the set its learner trained on, features and embedding
        head_features, actor = embedded_features(features, policy.extractor.encoder), policy.actor
    else:
        embedded = np.zeros((len(features), policy.extractor.encoder.shape.d_model), np.float32)
        embedded[rows] = policy.embed(values, rows)
        head_features, actor = _head_inputs(features, embedded, start, policy.actor)
    head_config = config.model_copy(update={"window": 1})
    head_obs, actions, ledger = run_compiled_episode(head_features, head_config, actor, mode)
    n = len(actions)
    observations = np.empty((n, 2 + window * values.shape[1]), dtype=np.float32)
    observations[:, 0] = head_obs[:, 0]
    observations[:, -1] = head_obs[:, -1]
    observations[:, 1:-1] = gather_windows(values, rows[:n], window).reshape(n, -1)
    return observations, actions, ledger


def _head_inputs(
    features: FeatureSet, embedded: np.ndarray, start: int, actor: MlpActor
) -> tuple[FeatureSet, MlpActor]:
    """The embedded FeatureSet the head's episode runs over, and the actor that reads it.
    When ``features`` carry the prior's exposure column (the residual action mode and the
    rewards relative to the prior read it in the engine), it rides along as the last column
    (NaN as 0, which the engine reads as no prior) and the actor gets a zero input weight
    for it: the head's actions are unchanged, the engine finds its prior."""
    columns = embedding_columns(embedded.shape[1])
    names = features.spec.feature_names
    if EXPOSURE_COLUMN in names:
        col = names.index(EXPOSURE_COLUMN)
        prior = np.nan_to_num(np.asarray(features.features[:, col], dtype=np.float32), nan=0.0)
        embedded = np.column_stack([embedded, prior])
        columns = (*columns, features.spec.columns[col])
        first = actor.weights[0]
        widened = np.insert(first, first.shape[1] - 1, 0.0, axis=1).astype(np.float32)
        actor = replace(actor, weights=(widened, *actor.weights[1:]))
    head_features = replace(
        features, features=embedded, first_valid=start, spec=replace(features.spec, columns=columns)
    )
    return head_features, actor
