"""Process start-up: import without the garbage collector, then freeze what was imported.

A btcrl process imports ~470k long-lived objects (torch, MLflow, SB3, pandas, numba).
CPython's cyclic collector scans them again at every full collection: 150-230 ms each, 17-25 %
of a 100k-step train's wall time (issue 25). Imports create almost no garbage cycles, so the
entry points (the CLI, spawned tune and walk-forward workers) pause the collector while they
import, then ``gc.freeze()`` moves every object alive at that point into the permanent
generation, which collections never scan again, and raise the generation-0 threshold so that
the many short-lived objects of a training loop are collected in fewer, larger passes.
Nothing is ever leaked by this: frozen objects that die are freed by reference counting as
usual (only a cycle among frozen objects would stay, and imports make none worth the scan).

``BTCRL_GC_FREEZE=0`` switches it off (CPython's defaults throughout): the "before" of
``benchmarks/startup.py``.
"""

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Iterable, Iterator

#: environment variable: ``0`` keeps CPython's collector settings (benchmarks, debugging)
FREEZE_ENV = "BTCRL_GC_FREEZE"
#: generation-0 threshold after the freeze (CPython's default is 700 allocations)
GEN0_THRESHOLD = 10_000
#: what a training process imports sooner or later; ``torch._dynamo`` is pulled in by the
#: first ``torch.optim`` optimiser (its ``add_param_group`` and ``step`` import it, whatever
#: the ``foreach`` / ``fused`` flags say), so it is imported here with the collector paused
TRAINING_MODULES = (
    "torch",
    "torch._dynamo",
    "stable_baselines3",
    "sb3_contrib",
    "mlflow",
    "btcrl.agents.training",
)
_frozen = False  # the heap is frozen once per process (a later call only imports)


def freeze_enabled() -> bool:
    """False when ``BTCRL_GC_FREEZE=0`` (read once per call, at process start-up only)."""
    return os.environ.get(FREEZE_ENV, "1") != "0"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off inside the block (unless switched off), as it was after."""
    was_enabled = gc.isenabled()
    if freeze_enabled():
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_after_imports(modules: Iterable[str] = ()) -> None:
    """Import ``modules`` with the collector paused, then freeze the heap, raise the
    generation-0 threshold and turn the collector back on. The freeze happens once per process
    (a test session invoking the CLI many times freezes once). With ``BTCRL_GC_FREEZE=0`` the
    modules are imported and nothing else changes."""
    global _frozen
    if not freeze_enabled() or _frozen:
        for name in modules:
            importlib.import_module(name)
        return
    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        _frozen = True
        gc.freeze()
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
        gc.enable()


def limit_jax_threads(threads: int) -> None:
    """One XLA CPU thread pool of ``threads`` threads for SBX (``train.torch_threads`` holds
    for both backends; 0 leaves XLA's choice). XLA reads its flags once, when JAX starts, so
    this works only before JAX is imported (entry points call it with torch's threads)."""
    if threads <= 0 or "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        extra = f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"
        os.environ["XLA_FLAGS"] = f"{flags} {extra}".strip()
