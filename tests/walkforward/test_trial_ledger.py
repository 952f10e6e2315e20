"""The trial ledger (issue 22.1): every configuration tried on one out-of-sample window set is
counted in the DSR of each, on a real sqlite store, and ``btcrl promote`` refuses what the
count deflates (and a one-trial PSR unless told otherwise).

48 long/flat SMA-crossover rules (a fast and a slow SMA of the close, 0.1 % per change of
position) traded on the bundled sample over two quarterly test windows: the best one's PSR is
0.979 (the old gate passed it), its DSR counting the 48 is 0.934 (refused).
"""

import functools
import itertools
import math
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import kurtosis, norm, skew

from btcrl.backtest.selection import OOS_RETURNS_ARTIFACT, write_oos_returns
from btcrl.cli import main
from btcrl.data.sample import load_sample
from btcrl.metrics import stats
from btcrl.tracking import tags
from btcrl.tracking.aliases import tag_challenger
from btcrl.tracking.ledger import ledger_entries, window_set_key
from btcrl.tracking.walkforward import create_parent_run, log_results
from btcrl.walkforward.aggregate import Aggregate, Stitched, deflate
from btcrl.walkforward.publish import count_trials

WINDOWS = (("2023-01-01", "2023-04-01"), ("2023-04-01", "2023-07-01"))  # [start, stop) UTC
FASTS = (6, 12, 24, 36, 48, 72)
SLOWS = (96, 168, 240, 336, 504, 720, 1000, 1440)
FEE = 0.001  # fraction of the position change, per change
NAME = "btcrl-wf-sma"


@functools.cache
def sma_returns() -> dict[str, pd.Series]:
    """Per-bar returns of the 48 rules over WINDOWS: long at the close of bar t when the
    fast SMA is above the slow one, earning bar t+1's close-to-close return."""
    close = load_sample()["close"]
    change = close.pct_change()
    start, stop = pd.Timestamp(WINDOWS[0][0], tz="UTC"), pd.Timestamp(WINDOWS[-1][1], tz="UTC")
    out = {}
    for fast, slow in itertools.product(FASTS, SLOWS):
        held = (close.rolling(fast).mean() > close.rolling(slow).mean()).astype(float)
        traded = held.diff().abs().shift(1).fillna(0.0)
        returns = held.shift(1) * change - FEE * traded
        out[f"sma-{fast}-{slow}"] = returns[(returns.index >= start) & (returns.index < stop)]
    return out


def paper_dsr(returns: np.ndarray, sharpes: list[float]) -> float:
    """Bailey & López de Prado (2014), by hand: PSR of ``returns`` against the expected
    maximum Sharpe of N = len(sharpes) trials with V = their sample variance."""
    n_trials, variance = len(sharpes), float(np.var(sharpes, ddof=1))
    gamma = 0.5772156649015329
    sr0 = math.sqrt(variance) * (
        (1 - gamma) * norm.ppf(1 - 1 / n_trials) + gamma * norm.ppf(1 - 1 / (n_trials * math.e))
    )
    sr = returns.mean() / returns.std(ddof=1)
    g3, g4 = skew(returns), kurtosis(returns, fisher=False)
    z = (sr - sr0) * math.sqrt(returns.size - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return float(norm.cdf(z))


def record(name: str, returns: pd.Series, window_set: str, tmp: Path) -> Aggregate:
    """A walk-forward parent for ``returns`` (its ``oos_returns.csv``), entered in the trial
    ledger and deflated by what the ledger holds, as ``log_aggregate`` does."""
    parent = create_parent_run("btcrl-walkforward", f"walkforward-{name}", {}, {})
    folder = tmp / name
    folder.mkdir()
    write_oos_returns(folder / OOS_RETURNS_ARTIFACT, returns.index, returns.to_numpy())
    equity = np.concatenate([[1.0], np.cumprod(1.0 + returns.to_numpy())])
    metrics = {"sharpe_per_bar": float(returns.mean() / returns.std(ddof=1))}
    empty = pd.DataFrame()
    stitched = Stitched(name, [], returns.index, equity, empty, empty, metrics, {})
    agg = Aggregate([], (0,), {0: stitched}, {}, window_set=window_set)
    agg.metrics = {"stats/psr": stats.probabilistic_sharpe_ratio(returns.to_numpy())}
    deflate(agg, count_trials(agg, parent))
    log_results(parent, agg.metrics, artifacts=folder)
    agg.table = pd.DataFrame({"parent": [parent]})
    return agg


def make_challenger(agg: Aggregate) -> int:
    """Register the parent's run as a model version tagged as a walk-forward challenger."""
    parent = str(agg.table["parent"].iloc[0])
    client = mlflow.MlflowClient()
    if not client.search_registered_models(f"name = '{NAME}'"):
        client.create_registered_model(NAME)
    version = int(client.create_model_version(NAME, f"runs:/{parent}/model", parent).version)
    trials = agg.trials
    assert trials is not None
    tag_challenger(
        NAME,
        version,
        dsr=agg.metrics["stats/psr" if trials.single else "stats/dsr"],
        n_trials=trials.n_trials,
        oos_sharpe=agg.primary.metrics["sharpe_per_bar"],
        parent_run_id=parent,
        windows=[(date.fromisoformat(a), date.fromisoformat(b)) for a, b in WINDOWS],
    )
    return version


def promote(uri: str, version: int, *extra: str) -> tuple[int, str]:
    args = ["promote", f"models:/{NAME}/{version}", "--set", f"tracking.uri={uri}", *extra]
    result = CliRunner().invoke(main, args)
    return result.exit_code, (result.stdout + result.stderr).strip()


def test_48_rules_on_one_window_set_deflate_the_best_by_the_papers_formula(
    tracking_uri: str, tmp_path: Path
) -> None:
    series = sma_returns()
    key = window_set_key("binance BTC/USDT 1h", "sample", WINDOWS)
    aggs = {name: record(name, returns, key, tmp_path) for name, returns in series.items()}
    entries = ledger_entries(key)
    assert len(entries) == 48
    assert {e.run_name for e in entries} == {f"walkforward-{n}" for n in series}
    sharpes = [e.sharpe_per_bar for e in entries]
    best = max(series, key=lambda n: aggs[n].primary.metrics["sharpe_per_bar"])
    returns = series[best].to_numpy()
    # the last one recorded counted all 48; the first counted only itself (N = 1, no DSR)
    last = aggs[list(series)[-1]]
    assert last.metrics["stats/n_trials"] == 48
    assert last.metrics["stats/dsr"] == pytest.approx(
        paper_dsr(series[list(series)[-1]].to_numpy(), sharpes), abs=1e-9
    )
    first = aggs[list(series)[0]]
    assert first.metrics["stats/n_trials"] == 1 and math.isnan(first.metrics["stats/dsr"])
    # the best, recorded again (a resumed walk-forward), is still one entry of 48
    again = record(best + "-again", series[best], "elsewhere", tmp_path)
    assert again.metrics["stats/n_trials"] == 1
    best_agg = aggs[best]
    deflate(best_agg, count_trials(best_agg, str(best_agg.table["parent"].iloc[0])))
    assert len(ledger_entries(key)) == 48
    dsr = paper_dsr(returns, sharpes)
    assert best_agg.metrics["stats/dsr"] == pytest.approx(dsr, abs=1e-9)
    assert best_agg.metrics["stats/psr"] > 0.95 > dsr  # the PSR passed; the DSR does not
    assert best_agg.trials is not None and best_agg.trials.n_trials == 48
    version = make_challenger(best_agg)
    code, output = promote(tracking_uri, version)
    assert code == 1
    assert output == (
        f"{NAME} v{version}: not promoted: DSR (N = 48) {dsr:.3f} is below promote.min_dsr 0.950"
    )


def test_a_one_trial_walkforward_is_a_psr_and_promote_refuses_it(
    tracking_uri: str, tmp_path: Path
) -> None:
    series = sma_returns()
    name = max(series, key=lambda n: float(series[n].mean() / series[n].std(ddof=1)))
    key = window_set_key("binance BTC/USDT 1h", "sample", WINDOWS)
    agg = record(name, series[name], key, tmp_path)
    assert agg.metrics["stats/n_trials"] == 1
    assert math.isnan(agg.metrics["stats/dsr"])  # nothing to deflate by: the PSR stands
    psr = agg.metrics["stats/psr"]
    version = make_challenger(agg)
    code, output = promote(tracking_uri, version)
    assert code == 1
    assert output == (
        f"{NAME} v{version}: not promoted: its DSR counts N = 1 configuration, so it is the "
        f"PSR {psr:.3f} and accounts for no selection; run the other configurations on the "
        "same windows (the trial ledger counts them) or pass --allow-single-trial"
    )
    code, output = promote(tracking_uri, version, "--allow-single-trial")
    assert (code, output) == (
        0,
        f"{NAME} v{version}: promoted: PSR (N = 1) {psr:.3f} >= 0.950 and there is no champion yet",
    )
    tags_now = mlflow.MlflowClient().get_model_version(NAME, str(version)).tags
    assert tags_now[tags.OOS_N_TRIALS] == "1"


def test_window_set_key_changes_with_the_market_the_data_and_the_windows() -> None:
    key = window_set_key("binance BTC/USDT 1h", "abc", WINDOWS)
    assert key == window_set_key("binance BTC/USDT 1h", "abc", list(WINDOWS))
    assert len({
        key,
        window_set_key("binance BTC/USDT 4h", "abc", WINDOWS),
        window_set_key("binance BTC/USDT 1h", "abd", WINDOWS),
        window_set_key("binance BTC/USDT 1h", "abc", WINDOWS[:1]),
    }) == 4  # fmt: skip


@pytest.mark.slow
def test_two_walkforwards_on_the_same_windows_count_each_other(
    tmp_path: Path, tracking_uri: str
) -> None:
    """The real path (run_walkforward -> log_aggregate): a second recipe on the same test
    windows makes N = 2 with V across both parents; the report and trial_ledger.csv name
    them; a recipe on other windows is another window set."""
    from btcrl.walkforward import run_walkforward
    from tests.walkforward.test_resume import tiny_walkforward

    trades = {"env.exposure_deadzone": 0.0}  # an untrained policy's small targets still trade
    first = run_walkforward(tiny_walkforward(tmp_path, tracking_uri, **trades))
    assert first.metrics["stats/n_trials"] == 1 and math.isnan(first.metrics["stats/dsr"])
    other = {**trades, "walkforward.name": "wf-other", "agent.learning_rate": 1e-3}
    second = run_walkforward(tiny_walkforward(tmp_path, tracking_uri, **other))
    assert second.metrics["stats/n_trials"] == 2
    client = mlflow.MlflowClient()
    parents = [first.parent_run_id, second.parent_run_id]
    sharpes = [float(client.get_run(p).data.tags[tags.LEDGER_SHARPE]) for p in parents]
    assert sharpes[0] != sharpes[1] and all(s != 0.0 for s in sharpes)  # both trade
    assert sharpes[1] == second.metrics["stitched/sharpe_per_bar"]
    variance = float(np.var(sharpes, ddof=1))
    assert second.metrics["stats/sharpe_variance"] == pytest.approx(variance, rel=1e-12)
    steps = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=second.parent_run_id, artifact_path="oos_returns.csv", dst_path=str(tmp_path)
        )
    )
    returns = steps["return"].to_numpy()
    assert second.metrics["stats/dsr"] == pytest.approx(paper_dsr(returns, sharpes), abs=1e-9)
    assert client.get_run(second.parent_run_id).data.tags[tags.LEDGER_STATISTIC] == "DSR"
    ledger = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=second.parent_run_id, artifact_path="trial_ledger.csv", dst_path=str(tmp_path)
        )
    )
    assert [run.split()[0] for run in ledger["run"]] == parents
    report = mlflow.artifacts.load_text(f"runs:/{second.parent_run_id}/report.html")
    assert "The DSR counts N = 2 configurations" in report and first.parent_run_id in report
    shorter = {**trades, "walkforward.name": "wf-short", "walkforward.segments": [0]}
    alone = run_walkforward(tiny_walkforward(tmp_path, tracking_uri, **shorter))
    assert alone.metrics["stats/n_trials"] == 1  # one test window: another window set
