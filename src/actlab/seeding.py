"""Determinism: one call at the top of every experiment."""
import random

import numpy as np
import torch
from threadpoolctl import threadpool_limits

# torch.use_deterministic_algorithms imports these on its first call (about 1 s of CPU: torch's
# compiler, for its own determinism switch); a warm kernel zygote imports them ahead
FIRST_CALL_IMPORTS = ("torch._inductor.config",)


def deterministic(seed: int = 0, threads: int = 1) -> None:
    """Seed everything, pin torch's thread count and turn on its determinism switch.

    One thread: results then do not depend on the machine's core count, and chapters
    can run side by side on the 2-core CI machine without oversubscribing it.
    """
    torch.set_num_threads(threads)
    # numpy's BLAS and any OpenMP pool too: two chapters run side by side on two cores
    threadpool_limits(threads)
    torch.use_deterministic_algorithms(True)
    # Gradients through deep saturating nets reach 1e-300 and below; arithmetic on
    # subnormal floats is ~10x slower on x86. Flushing them to zero loses only values
    # under 2.2e-308 (float64) and makes the sweeps fast. It sets the CPU's FTZ/DAZ flags
    # for this thread, so numpy on this thread flushes subnormals too: in a chapter,
    # nothing below 2.2e-308 is ever a result.
    torch.set_flush_denormal(True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
