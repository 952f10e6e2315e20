"""Masked-autoencoder pre-training of the market encoder (``btcrl pretrain``)."""

from pydantic import Field, model_validator

from btcrl.config.base import Section


class PretrainConfig(Section):
    """Size and budget of the masked autoencoder. Windows are bars; steps are gradient steps."""

    window: int = Field(64, ge=2, le=1024, description="bars per window (tokens per sample)")
    d_model: int = Field(32, ge=4, le=1024, description="token embedding width")
    n_heads: int = Field(4, ge=1, le=64, description="attention heads (divides d_model)")
    n_layers: int = Field(2, ge=1, le=24, description="transformer encoder layers")
    dim_feedforward: int = Field(64, ge=4, le=8192, description="feed-forward width per layer")
    mask_ratio: float = Field(
        0.6, ge=0.5, le=0.75, description="fraction of tokens masked per window (0.5-0.75)"
    )
    steps: int = Field(1500, ge=1, description="gradient steps")
    batch_size: int = Field(128, ge=1, le=65536, description="windows per gradient step")
    learning_rate: float = Field(1e-3, gt=0, le=1.0)
    holdout_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=0.5,
        description="last fraction of the train span's windows kept out of training to "
        "measure reconstruction against the window-mean baseline",
    )
    eval_every: int = Field(250, ge=1, description="gradient steps between held-out losses")
    device: str = Field("auto", description="auto | cpu | cuda")
    torch_threads: int = Field(
        1,
        ge=0,
        description="torch intra-op threads of btcrl pretrain (set by the command; a "
        "walk-forward's per-segment encoders use train.torch_threads); 0 = torch's default "
        "(all cores). 1: on 2 shared cores, 2 threads ran 7x slower than 1 (they spin)",
    )
    experiment: str = "btcrl-pretrain"
    model_name: str = Field("btcrl-encoder", description="registry name of the encoder")
    per_segment: bool = Field(
        False,
        description="btcrl walkforward (--pretrain): pre-train one encoder per segment on its "
        "train window and train the segment's agent through it",
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "PretrainConfig":
        if self.d_model % self.n_heads:
            raise ValueError(
                f"pretrain.d_model={self.d_model} must be a multiple of "
                f"pretrain.n_heads={self.n_heads}"
            )
        return self
