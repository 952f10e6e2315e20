"""Re-run a registered policy over out-of-sample windows: its per-bar returns there.

This is how the champion is scored on the challenger's windows: per window, the FeatureSet
of that window (warmed up on earlier bars, built with the policy's own features config from
the same candles), one backtest episode by the same engine and episode runner every other
evaluation uses (:func:`btcrl.backtest.episode.run_episode`), and the equity's per-step
returns stamped with the bar whose close marks them (the ``oos_returns.csv`` convention).
"""

import logging
from datetime import date

import numpy as np
import pandas as pd

from btcrl.agents import load_policy
from btcrl.backtest.compat import check_model_fits
from btcrl.backtest.episode import backtest_env_config, bar_times, run_episode
from btcrl.backtest.fast_policy import fast_predict
from btcrl.backtest.policies import ModelPolicy
from btcrl.backtest.selection import RETURN_COLUMN, returns_from_equity
from btcrl.config import DataConfig, EnvConfig
from btcrl.errors import DataError
from btcrl.features import load_feature_set

log = logging.getLogger(__name__)


def policy_returns(
    model_uri: str,
    windows: list[tuple[date, date]],
    data: DataConfig,
    costs: EnvConfig,
    force_close: bool = True,
) -> pd.Series:
    """Per-bar simple returns (fraction) of ``model_uri``'s policy over ``windows``
    (inclusive UTC days), indexed by UTC bar open time, one episode per window.

    ``data``: the candles (source, market, timeframe; start/end are replaced per window).
    ``costs``: ``fee_rate`` and ``slippage_bps`` are taken from it, so that policies compared
    on these windows pay the same costs; every other env setting is the policy's own.
    Raises CompatibilityError when the policy does not fit the data, DataError when windows
    overlap.
    """
    loaded = load_policy(model_uri)
    env = loaded.config.env.model_copy(
        update={"fee_rate": costs.fee_rate, "slippage_bps": costs.slippage_bps}
    )
    env = backtest_env_config(env, force_close)
    fast = fast_predict(loaded.model, loaded.spec.observation_size)
    policy = ModelPolicy(fast or loaded.predict, name=model_uri)
    parts = []
    for start, end in windows:
        fs = load_feature_set(
            data.model_copy(update={"start": start, "end": end}), loaded.config.features
        )
        for warning in check_model_fits(loaded, fs.spec):
            log.warning("%s", warning)
        episode = run_episode(fs, env, policy)
        times = bar_times(fs, episode)
        parts.append(
            pd.Series(returns_from_equity(episode.equity), index=times[1:], name=RETURN_COLUMN)
        )
        log.info("%s on %s..%s: %d bars", model_uri, start, end, len(parts[-1]))
    series = pd.concat(parts).sort_index()
    if series.index.has_duplicates:
        raise DataError(f"out-of-sample windows {windows} overlap: a bar would count twice")
    return series.astype(np.float64)
