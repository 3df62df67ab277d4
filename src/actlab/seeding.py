"""Determinism: one call at the top of every experiment."""
import random

import numpy as np
import torch


def deterministic(seed: int = 0, threads: int = 1) -> torch.Generator:
    """Seed everything, pin torch's thread count and turn on its determinism switch.

    One thread: results then do not depend on the machine's core count, and chapters
    can run side by side on the 2-core CI machine without oversubscribing it.
    """
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    # Gradients through deep saturating nets reach 1e-300 and below; arithmetic on
    # subnormal floats is ~10x slower on x86. Flushing them to zero loses only values
    # under 2.2e-308 (float64) and makes the sweeps fast.
    torch.set_flush_denormal(True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
