"""One job: train one segment for one seed through ``run_training`` (the ``btcrl train`` path).

The segment's train window ``[train_start, train_stop)`` becomes the run's FeatureSet (built
with warm-up bars before it, nothing after); ``train.train_end`` puts the validation tail
``[val_start, train_stop)`` apart, so the checkpoint is picked on it. The run is a nested
child of the walk-forward's parent run, tagged with its segment, seed and spans.
"""

import logging
import math
from datetime import date
from typing import Any

import optuna
import pandas as pd

from btcrl.config import ExperimentConfig, with_overrides
from btcrl.errors import BtcrlError
from btcrl.features.spec import FeatureSet
from btcrl.tracking import tags as tag_names
from btcrl.walkforward.jobs import RESULT_ATTR, SEED_HIGH, JobContext, JobFailedError, jobs_in
from btcrl.walkforward.policies import remember_policy
from btcrl.walkforward.split import Segment

log = logging.getLogger(__name__)


def _day(ts: pd.Timestamp) -> date:
    return ts.date()


def segment_config(config: ExperimentConfig, segment: Segment, seed: int) -> ExperimentConfig:
    """The train config of one job: its seed, span, validation tail and experiment; the
    model is not registered (the walk-forward registers the latest segment's)."""
    last_day = (segment.train_stop - pd.Timedelta(1, "ns")).date()
    return with_overrides(
        config,
        {
            "seed": seed,
            "data.start": _day(segment.train_start).isoformat(),
            "data.end": last_day.isoformat(),
            "train.train_end": (segment.val_start - pd.Timedelta(days=1)).date().isoformat(),
            "train.register_model": False,
            "train.experiment": config.walkforward.experiment,
        },
    )


def segment_tags(config: ExperimentConfig, segment: Segment, seed: int) -> dict[str, str]:
    """Tags of a job's run: walk-forward name, segment, seed and its spans."""
    tags = {
        tag_names.WALKFORWARD_NAME: config.walkforward.name,
        tag_names.WALKFORWARD_SEGMENT: str(segment.index),
        tag_names.WALKFORWARD_SEED: str(seed),
    }
    tags.update({tag_names.walkforward_span(k): v for k, v in segment.spans().items()})
    return tags


def segment_run_prefix(segment: Segment) -> str:
    """What tells a walk-forward's runs apart, first: ``seg3-test2024-07-01..2024-09-30``
    (the run name then adds the seed, ``-s0-...``)."""
    last = (segment.test_stop - pd.Timedelta(1, "ns")).date()
    return f"seg{segment.index}-test{segment.test_start.date()}..{last}"


def segment_encoder(
    config: ExperimentConfig,
    features: FeatureSet,
    segment: Segment,
    seed: int,
    parent_run_id: str | None,
) -> ExperimentConfig:
    """``config`` reading through this segment's encoder (``pretrain.per_segment``): the
    one already logged for the walk-forward's segment, else one pre-trained now with
    ``seed`` on ``features`` (the segment's train window; ``train.train_end`` keeps the
    validation tail out too), so the encoder never sees a test bar."""
    from btcrl.agents.pretraining import run_pretraining
    from btcrl.tracking.encoder import find_encoder

    tags = {
        tag_names.WALKFORWARD_NAME: config.walkforward.name,
        tag_names.WALKFORWARD_SEGMENT: str(segment.index),
    }
    experiment = config.walkforward.experiment
    uri = find_encoder(experiment, tags)
    if uri is None:
        log.info("segment %d: pre-training its encoder", segment.index)
        base = with_overrides(config, {"seed": seed, "pretrain.experiment": experiment})
        uri = run_pretraining(
            base, features=features, parent_run_id=parent_run_id, register=False, extra_tags=tags
        ).model_uri
    return with_overrides(config, {"agent.encoder": uri})


def _grid_draw(study: optuna.Study, number: int) -> bool:
    """Did the grid sampler pick this trial's job (rather than an enqueue or a retry)?"""
    for frozen in study.get_trials(deepcopy=False):
        if frozen.number == number:
            return "grid_id" in frozen.system_attrs
    return False


class SegmentObjective:
    """The Optuna objective of a walk-forward worker: train the trial's (segment, seed)."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self._candles: pd.DataFrame | None = None

    def candles(self) -> pd.DataFrame:
        """The candles of ``config.data``, loaded once per worker."""
        if self._candles is None:
            from btcrl.data import load_candles

            self._candles = load_candles(self.ctx.config.data)
        return self._candles

    def __call__(self, trial: optuna.Trial) -> float:
        segment_index = trial.suggest_int("segment", 0, len(self.ctx.segments) - 1)
        seed = trial.suggest_int("seed", 0, SEED_HIGH)
        job = (segment_index, seed)
        study = trial.study
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING)
        others = [n for n in jobs_in(study, states).get(job, []) if n != trial.number]
        if others:  # a grid draw that raced another worker: never train a job twice
            raise optuna.TrialPruned(f"job {job} is taken by trial(s) {others}")
        if job not in self.ctx.wanted and _grid_draw(study, trial.number):
            # no job was waiting when this trial started: the grid drew one nobody asked for
            raise optuna.TrialPruned(f"job {job} was not asked for")
        return self._train(trial, self.ctx.segments[segment_index], seed)

    def _train(self, trial: optuna.Trial, segment: Segment, seed: int) -> float:
        from btcrl.agents import run_training
        from btcrl.walkforward.windows import train_window_features

        config = segment_config(self.ctx.config, segment, seed)
        log.info("segment %d seed %d: training %s", segment.index, seed, segment.spans())
        try:  # fitted features fit on this segment's train split only
            features = train_window_features(self.candles(), config, segment)
            if config.pretrain.per_segment:
                config = segment_encoder(
                    config, features, segment, self.ctx.config.seed, self.ctx.parent_run_id
                )
            result = run_training(
                config,
                parent_run_id=self.ctx.parent_run_id,
                extra_tags=segment_tags(config, segment, seed),
                name_prefix=segment_run_prefix(segment),
                features=features,
                progress=self.ctx.step_progress,
            )
        except BtcrlError as exc:
            raise JobFailedError(f"segment {segment.index} seed {seed}: {exc}") from exc
        if self.ctx.keep_models and result.model is not None:  # the stitch in this process
            remember_policy(result.model_uri, result.model, features.spec, result.config or config)
        attrs: dict[str, Any] = {"run_id": result.run_id, "model_uri": result.model_uri}
        attrs.update({k: float(v) for k, v in result.metrics.items()})
        trial.set_user_attr(RESULT_ATTR, attrs)  # one storage write, not one per metric
        value = float(result.metrics.get(config.train.best_metric, math.nan))
        return value if math.isfinite(value) else 0.0  # Optuna fails a NaN; attrs keep it
