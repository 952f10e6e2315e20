"""Optuna studies over training: spaces, storage, workers, MLflow parent/child runs."""

from btcrl.tune.space import SearchSpace, load_space, resolve_space_path, sample_params
from btcrl.tune.study import StudyResult, run_study

__all__ = [
    "SearchSpace",
    "StudyResult",
    "load_space",
    "resolve_space_path",
    "run_study",
    "sample_params",
]
