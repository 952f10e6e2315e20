"""`btcrl walkforward`: walk-forward evaluation over calendar months (docs/walkforward.md)."""

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from btcrl.cli.common import (
    BLANK_INT,
    build_experiment_config,
    config_options,
    data_options,
    empty_uses_env,
    handle_errors,
    terminate_as_interrupt,
    worker_failures,
)
from btcrl.errors import ConfigError

if TYPE_CHECKING:
    from btcrl.walkforward import WalkforwardResult

# options -> config keys (None and "" mean "keep the config's value")
_WF_KEYS = {
    "train_months": "walkforward.train_months",
    "test_months": "walkforward.test_months",
    "step_months": "walkforward.step_months",
    "val_months": "walkforward.val_months",
    "embargo": "walkforward.embargo_bars",
    "workers": "walkforward.workers",
    "name": "walkforward.name",
    "storage": "walkforward.storage",
    "total_timesteps": "train.total_timesteps",
    "algo": "agent.algo",
}
LINE_EVERY_S = 30.0


def parse_indices(text: str | None, what: str) -> list[int] | None:
    """``"0,1,2"`` -> [0, 1, 2]; None/"" -> None; ConfigError naming the bad list."""
    if text is None or not text.strip():
        return None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--{what} {text!r} is not a comma-separated list of integers") from None
    if not values or any(v < 0 for v in values) or len(set(values)) != len(values):
        raise ConfigError(f"--{what} {text!r} must list distinct non-negative integers")
    return values


class SegmentProgress:
    """A tqdm bar over jobs in a terminal, else one line on stderr every 30 s."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty() and not os.environ.get("CI")
        self.bar: Any = None  # tqdm, created on the first report
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc="segment x seed jobs", unit="job")
            self.bar.n = done
            self.bar.refresh()
        elif time.monotonic() - self.last >= LINE_EVERY_S or done == total:
            self.last = time.monotonic()
            click.echo(f"walk-forward: {done}/{total} jobs finished", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@click.command(context_settings={"ignore_unknown_options": False})
@config_options
@data_options
@click.option(
    "--train-months",
    type=BLANK_INT,
    default=None,
    help="Train window incl. validation (default 18).",
)
@click.option(
    "--test-months", type=BLANK_INT, default=None, help="Out-of-sample window (default 3)."
)
@click.option(
    "--step-months", type=BLANK_INT, default=None, help="Shift between segments (= test months)."
)
@click.option(
    "--val-months", type=BLANK_INT, default=None, help="Validation tail of each train window (3)."
)
@click.option("--anchored", is_flag=True, default=False, help="Expanding train windows.")
@click.option(
    "--pretrain", is_flag=True, default=False, help="Pre-train an encoder per segment first."
)
@click.option(
    "--embargo", type=BLANK_INT, default=None, help="Bars left out between train and test (0)."
)
@click.option("--seeds", default=None, help="Comma-separated seeds, one training each (0,1,2).")
@click.option(
    "--workers", type=BLANK_INT, default=None, help="Worker processes on this machine (1)."
)
@click.option("--segments", default=None, help="Comma-separated segment indices to run.")
@click.option(
    "--total-timesteps", type=BLANK_INT, default=None, help="Env-steps per segment training."
)
@click.option("--algo", default=None, help="ppo | sac | tqc (default ppo).")
@click.option("--name", default=None, help="Walk-forward name; the same name resumes/joins.")
@click.option(
    "--storage",
    default=None,
    envvar="BTCRL_WALKFORWARD_STORAGE",
    callback=empty_uses_env,
    help="Optuna RDB URL shared by all machines (default sqlite:///studies/<name>.db).",
)
@click.option("--promote", is_flag=True, default=False, help="Then btcrl promote the challenger.")
@click.option(
    "--ensemble/--no-ensemble",
    default=None,
    help="Also stitch the seeds' ensemble (trains nothing more).  [default: config, on]",
)
@handle_errors
def walkforward(
    config_path: Path | None,
    overrides: tuple[str, ...],
    anchored: bool,
    ensemble: bool | None,
    promote: bool,
    pretrain: bool,
    seeds: str | None,
    segments: str | None,
    **options: object,
) -> None:
    """Walk-forward evaluation: train every segment on its own past, test it on the next
    months, stitch the out-of-sample equity and score it (PSR, DSR, buy-and-hold alpha).

    Re-running with the same --name resumes (finished segments are never retrained); the
    same --name and --storage on other machines joins the same walk-forward.
    """
    from btcrl.jobs.processes import set_torch_threads
    from btcrl.walkforward import run_walkforward

    if logging.getLogger().level >= logging.WARNING:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    extra = list(overrides)
    seed_list = parse_indices(seeds, "seeds")
    segment_list = parse_indices(segments, "segments")
    if seed_list is not None:
        extra.append(f"walkforward.seeds={seed_list}")
    if segment_list is not None:
        extra.append(f"walkforward.segments={segment_list}")
    if anchored:
        extra.append("walkforward.anchored=true")
    if pretrain:
        extra.append("pretrain.per_segment=true")
    if ensemble is not None:
        extra.append(f"walkforward.ensemble={str(ensemble).lower()}")
    config = build_experiment_config(config_path, tuple(extra), options, _WF_KEYS)
    set_torch_threads(config.train.torch_threads)  # an in-process worker's (spawned: their own)
    progress = SegmentProgress()
    try:
        with terminate_as_interrupt():  # SIGTERM ends the parent run KILLED, like Ctrl-C
            result = run_walkforward(config, progress=progress, step_progress=progress.tty)
    finally:
        progress.close()
    _summary(result)
    refused = promote and not _promote(config, result.registered_version)
    lost = worker_failures(result.worker_exit_codes)
    if lost:  # the summary above covers the jobs that finished
        held = "a job a lost worker held is failed by its heartbeat and retried (tune.max_retry)"
        click.echo(f"error: {'; '.join(lost)}; {held}", err=True)
    if refused or lost:
        raise SystemExit(1)


def _promote(config: Any, version: int | None) -> bool:
    """The promotion gate on this walk-forward's challenger; True when promoted."""
    from btcrl.promote.challenge import promote_model
    from btcrl.walkforward.publish import model_name

    if version is None:
        click.echo("not promoted: this invocation registered no new challenger")
        return False
    outcome = promote_model(config, f"models:/{model_name(config)}/{version}")
    click.echo(outcome.decision.reason)
    return outcome.decision.promote


def _summary(r: "WalkforwardResult") -> None:
    click.echo(
        f"walk-forward {r.name} ({r.storage}): {len(r.segments)} segments; jobs finished "
        f"{r.finished}/{r.wanted} (trained by this process {r.trained}, in the study meanwhile "
        f"{r.trained_in_study}); parent run {r.parent_run_id}"
    )
    m = r.metrics
    if not m:
        click.echo("no segment finished for every seed yet: nothing stitched")
        return
    click.echo(
        f"stitched out-of-sample ({int(m['segments/stitched'])} segments): total return "
        f"{m['stitched/total_return']:+.2%}, Sharpe (annualised) {m['stitched/sharpe']:.2f}, "
        f"max drawdown "
        f"{m['stitched/max_drawdown']:.2%}, fees {m['stitched/fees_fraction']:.2%} of capital; "
        f"before costs {m['stitched/return_before_costs']:+.2%}"
    )
    click.echo(
        f"buy and hold: total return {m['buy_and_hold/total_return']:+.2%}, Sharpe (annualised) "
        f"{m['buy_and_hold/sharpe']:.2f}; mean alpha {m['alpha/mean']:+.2%}, segments beating "
        f"it {m['alpha/share_beating_bh']:.0%}"
    )
    if "trend_voltarget/total_return" in m:
        click.echo(
            f"prior trend_voltarget: total return {m['trend_voltarget/total_return']:+.2%}, "
            f"Sharpe (annualised) {m['trend_voltarget/sharpe']:.2f}, max drawdown "
            f"{m['trend_voltarget/max_drawdown']:.2%}; excess over it "
            f"{m['trend_voltarget/excess_return']:+.2%}, Sharpe (annualised) "
            f"{m['trend_voltarget/excess_sharpe']:.2f}, PSR {m['trend_voltarget/excess_psr']:.3f}"
        )
    if "ensemble/total_return" in m:
        click.echo(
            f"ensemble of the seeds: total return {m['ensemble/total_return']:+.2%}, Sharpe "
            f"(annualised) {m['ensemble/sharpe']:.2f}, max drawdown "
            f"{m['ensemble/max_drawdown']:.2%}, PSR {m['ensemble/psr']:.3f}"
        )
    n = int(m["stats/n_trials"])
    deflated = (
        f"DSR {m['stats/dsr']:.3f} (N={n} configurations on these windows)"
        if n > 1
        else "no DSR: N=1, no other configuration on these windows (the PSR is not deflated)"
    )
    click.echo(
        f"PSR {m['stats/psr']:.3f}, {deflated}, min track record "
        f"{m['stats/min_track_record_bars']:.0f} of {m['stats/track_record_bars']:.0f} bars"
    )
    if r.registered_version:
        click.echo(
            f"registered version {r.registered_version} of {r.registered_name} "
            "with alias challenger"
        )
