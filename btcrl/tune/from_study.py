"""``btcrl train --from-study NAME [--trial N]``: a finished trial's configuration, to retrain
at the full budget."""

import json

import optuna
from optuna.trial import TrialState

from btcrl.config import TrackingConfig, TuneConfig
from btcrl.errors import ConfigError
from btcrl.jobs.storage import make_storage, redact_url, storage_exists
from btcrl.tune.objective import OVERRIDES_ATTR
from btcrl.tune.storage import study_storage_url
from btcrl.tune.study import ALGO_ATTR


def study_overrides(
    tune: TuneConfig,
    name: str,
    storage: str | None,
    trial: int | None,
    tracking: TrackingConfig | None = None,
) -> tuple[int, list[str]]:
    """The trial's number and its config as ``key=value`` overrides (``agent.algo``, the
    space's fixed values and the sampled ones; values as JSON, which the config reads as
    YAML). ``trial`` None = the best trial. ConfigError (one line) for a missing study, a
    trial that does not exist or did not complete, or a multi-objective study without
    ``--trial``. The study is looked for where ``btcrl tune`` keeps it with ``tracking``
    (:func:`btcrl.tune.storage.study_storage_url`)."""
    settings = tune.model_copy(update={"study": name, "storage": storage})
    url = study_storage_url(settings, tracking or TrackingConfig())
    if not storage_exists(url):  # opening it would leave an empty database behind
        raise ConfigError(f"no study {name!r} in {redact_url(url)}: the file does not exist")
    try:
        study = optuna.load_study(study_name=name, storage=make_storage(url, settings))
    except KeyError:
        raise ConfigError(f"no study {name!r} in {url}") from None
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if trial is None:
        if len(study.directions) > 1:
            raise ConfigError(f"study {name!r} has several objectives: pick one with --trial")
        done = [t for t in trials.values() if t.state == TrialState.COMPLETE]
        if not done:
            raise ConfigError(f"study {name!r} has no complete trial yet")
        trial = study.best_trial.number
    frozen = trials.get(trial)
    if frozen is None:
        raise ConfigError(f"study {name!r} has no trial {trial} (it has {len(trials)})")
    if frozen.state != TrialState.COMPLETE:
        raise ConfigError(f"trial {trial} of study {name!r} is {frozen.state.name}, not COMPLETE")
    values = frozen.user_attrs.get(OVERRIDES_ATTR)
    if values is None:
        raise ConfigError(f"trial {trial} of study {name!r} records no configuration")
    found = [f"{key}={json.dumps(value)}" for key, value in values.items()]
    algo = study.user_attrs.get(ALGO_ATTR)
    return trial, ([f"agent.algo={algo}"] if algo else []) + found
