"""The environment a build ran in, for the appendix."""
from __future__ import annotations

import hashlib
import platform
import subprocess

import matplotlib
import numpy
import torch

from actlab import paths, timing


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def describe() -> dict:
    lock = paths.LOCK.read_bytes() if paths.LOCK.exists() else b""
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD") or "unknown (not a git checkout)",
        "tree_state": "uncommitted changes present" if dirty else "clean",
        "lock_sha256": hashlib.sha256(lock).hexdigest(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "matplotlib": matplotlib.__version__,
        "torch_threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "cpu": timing.cpu_name(),
    }
