"""The learning algorithm and its hyperparameters."""

from typing import Literal

from pydantic import Field, model_validator

from btcrl.config.base import Section


class AgentConfig(Section):
    """SB3 hyperparameters. Fields an algorithm does not use are ignored by it."""

    algo: Literal["ppo", "sac", "tqc", "crossq"] = "ppo"
    backend: Literal["sb3", "sbx"] = Field(
        "sb3",
        description="sb3: stable-baselines3 / sb3-contrib on torch; sbx: SBX on JAX (sac, tqc, "
        "crossq; crossq is SBX only)",
    )
    learning_rate: float = Field(3e-4, gt=0, lt=1)
    gamma: float = Field(0.99, gt=0, le=1)
    net_arch: tuple[int, ...] = Field((64, 64), description="hidden layer sizes, policy and value")
    activation: Literal["tanh", "relu"] = "tanh"
    # on-policy (PPO)
    n_steps: int = Field(256, ge=8, description="rollout length per env, steps")
    batch_size: int = Field(4096, ge=8, description="minibatch size, transitions")
    n_epochs: int = Field(4, ge=1)
    gae_lambda: float = Field(0.95, gt=0, le=1)
    clip_range: float = Field(0.2, gt=0, lt=1)
    ent_coef: float = Field(0.0, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    # off-policy (SAC, TQC, CrossQ)
    buffer_size: int = Field(200_000, ge=1000, description="replay buffer, transitions")
    off_policy_batch_size: int = Field(256, ge=8, description="SAC/TQC minibatch, transitions")
    learning_starts: int = Field(1000, ge=0)
    tau: float = Field(0.005, gt=0, le=1)
    train_freq: int = Field(1, ge=1)
    gradient_steps: int = Field(1, ge=-1)
    top_quantiles_to_drop_per_net: int = Field(2, ge=0, description="TQC only")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # pre-trained market encoder (btcrl pretrain)
    encoder: str | None = Field(
        None,
        description="models:/btcrl-encoder@ALIAS (or any encoder model URI): the policy reads "
        "its observation window through it; env.window follows the encoder's. null = plain MLP. "
        "With backend sbx (frozen only) its embeddings are precomputed observation columns",
    )
    encoder_trainable: bool = Field(
        False,
        description="fine-tune the encoder with the policy (false = frozen; backend sb3 only)",
    )

    @model_validator(mode="after")
    def _check_backend(self) -> "AgentConfig":
        if self.backend == "sbx" and self.algo == "ppo":
            raise ValueError("agent.backend 'sbx' serves sac, tqc and crossq; ppo uses 'sb3'")
        if self.algo == "crossq" and self.backend != "sbx":
            raise ValueError("agent.algo 'crossq' exists on agent.backend 'sbx' only")
        if self.backend == "sbx" and self.encoder is not None and self.encoder_trainable:
            raise ValueError(
                "agent.encoder_trainable=true needs agent.backend 'sb3': an SBX (JAX) policy "
                "reads a frozen torch encoder's precomputed embeddings and cannot fine-tune it"
            )
        return self
