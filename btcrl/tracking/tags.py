"""Every MLflow tag name btcrl sets or reads, in one place (docs/internals.md lists them).

Values are strings. Spans are ISO 8601 UTC bar open times. ``END_REASON`` is the one tag that
says why a run did not finish normally (pruned, diverged, failed, killed, worker lost).
"""

# MLflow's own tags
RUN_NAME = "mlflow.runName"
GIT_COMMIT = "mlflow.source.git.commit"
#: MLflow 3's UI reads it to choose the experiment view
EXPERIMENT_KIND = "mlflow.experimentKind"
#: MLflow 3's value for the classic (non-GenAI) view: runs table, compare, models
CLASSIC_EXPERIMENT_KIND = "custom_model_development"

# every btcrl run
STAGE = "btcrl.stage"  # ingest | train | tune | backtest
END_REASON = "btcrl.end_reason"  # "<ExceptionType>: <first line>" or a lost-process note
HOST = "btcrl.host"
PID = "btcrl.pid"
PID_START = "btcrl.pid_start"  # process start, seconds since the epoch

# market and data
DATA_HASH = "btcrl.data_hash"
SPEC_HASH = "btcrl.spec_hash"
FEATURE_SPEC_HASH = "btcrl.feature_spec_hash"
ALGO = "btcrl.algo"
SOURCE = "btcrl.source"
SYMBOL = "btcrl.symbol"
EXCHANGE = "btcrl.exchange"
TIMEFRAME = "btcrl.timeframe"

# train runs (the spans later backtests check for overlap)
TRAIN_START = "btcrl.train_start"
TRAIN_END = "btcrl.train_end"
VAL_START = "btcrl.val_start"
VAL_END = "btcrl.val_end"
RESUMED_FROM = "btcrl.resumed_from"
VAL_SHARPE = "btcrl.val_sharpe"  # on registry versions
SOURCE_RUN_ID = "btcrl.source_run_id"

# tune parent runs and trials
STUDY = "btcrl.study"
STORAGE = "btcrl.storage"  # password hidden
SPACE = "btcrl.space"
METRICS = "btcrl.metrics"
DIRECTIONS = "btcrl.directions"
WORKERS = "btcrl.workers"
TRIAL_NUMBER = "btcrl.trial_number"
TRIAL_KEY = "btcrl.trial_key"  # "<study>#<number>", unique within a storage
TRIAL_PARAMS = "btcrl.trial_params"
TUNE_PARENT = "btcrl.tune_parent"
OBJECTIVE_METRICS = "btcrl.objective_metrics"
BEST_TRIAL = "btcrl.best_trial"
BEST_RUN_ID = "btcrl.best_run_id"
REGISTERED_VERSION = "btcrl.registered_version"

# backtest runs
POLICY = "btcrl.policy"
RULE = "btcrl.rule"
MODEL_URI = "btcrl.model_uri"
MODEL_NAME = "btcrl.model_name"
MODEL_VERSION = "btcrl.model_version"
MODEL_ALIAS = "btcrl.model_alias"
MODEL_ID = "btcrl.model_id"  # MLflow 3's logged-model id of the version a backtest tested
BACKTEST_START = "btcrl.backtest_start"
BACKTEST_END = "btcrl.backtest_end"
IN_SAMPLE = "btcrl.in_sample"  # "true" when the backtest shares bars with the model's spans

# tune: the held-back retrain and the folds
HELDBACK = "btcrl.tune.heldback"  # "1" on the held-back retrain of the best configuration
HELDBACK_SHARPE = "btcrl.heldback_sharpe"
HELDBACK_WINDOW = "btcrl.heldback_window"  # "<first day>..<last day>"
FOLD = "btcrl.tune.fold"
#: an Optuna study user attribute (not an MLflow tag): the objective the study optimises
STUDY_OBJECTIVE = "btcrl.objective"
STUDY_SETTINGS = "btcrl.study_settings"  # a tune study's user attr: what its trials share

# walk-forward parents, segment runs and their registered versions
WALKFORWARD_NAME = "btcrl.walkforward.name"
WALKFORWARD_SEGMENT = "btcrl.walkforward.segment"
WALKFORWARD_SEED = "btcrl.walkforward.seed"
WALKFORWARD_PARENT_RUN = "btcrl.walkforward.parent_run"
WALKFORWARD_REGISTERED_RUN = "btcrl.walkforward.registered_run"
WALKFORWARD_SEGMENTS_STITCHED = "btcrl.walkforward.segments_stitched"  # "<stitched>/<all>"
STITCHED_SHARPE = "btcrl.stitched_sharpe"
DSR = "btcrl.dsr"
DATA = "btcrl.data"  # "<source> <symbol> <timeframe>" on registered versions

# challenger versions: what btcrl promote reads (docs/selection.md)
OOS_DSR = "btcrl.oos_dsr"
OOS_SHARPE = "btcrl.oos_sharpe"
OOS_PARENT_RUN = "btcrl.parent_run_id"
OOS_WINDOWS = "btcrl.oos_windows"

# encoder runs and the train runs that read one
ENCODER_URI = "btcrl.encoder_uri"
ENCODER_RUN_ID = "btcrl.encoder_run_id"

# the trial ledger (btcrl.tracking.ledger): configurations tried on one out-of-sample window set
LEDGER_WINDOW_SET = "btcrl.ledger.window_set"  # the window set's key, on every entry
LEDGER_SHARPE = "btcrl.ledger.sharpe_per_bar"  # the entry's per-bar Sharpe on those windows
LEDGER_KIND = "btcrl.ledger.kind"  # walkforward | tune_trial
LEDGER_N_TRIALS = "btcrl.ledger.n_trials"  # on a walk-forward parent: the N of its DSR
LEDGER_STATISTIC = "btcrl.ledger.statistic"  # DSR, or PSR when N = 1 (nothing to deflate by)
OOS_N_TRIALS = "btcrl.oos_n_trials"  # on challenger versions: the N behind btcrl.oos_dsr


def walkforward_span(boundary: str) -> str:
    """The tag of one segment boundary (``train_start``, ``test_stop``, ...: the keys of
    ``btcrl.walkforward.split.Segment.spans``)."""
    return f"btcrl.walkforward.{boundary}"
