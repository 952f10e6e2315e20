"""The one seeding helper: Python, NumPy and torch from one integer, torch threads fixed."""

import logging
import random

import numpy as np
import torch

log = logging.getLogger(__name__)


def seed_everything(seed: int, torch_threads: int = 0) -> None:
    """Seed ``random``, NumPy's legacy global generator and torch (CPU and CUDA) with ``seed``.

    ``torch_threads`` > 0 fixes torch's intra-op thread count (0 leaves torch's choice). With
    the same seed, thread count, config and data, CPU training is bit-for-bit repeatable: SB3
    draws every random number from these generators and the envs take ``seed + index``.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if torch_threads > 0 and torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
        log.debug("torch intra-op threads set to %d", torch_threads)
