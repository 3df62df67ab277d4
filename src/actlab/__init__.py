"""actlab: everything the book 'Activation functions, measured' computes and draws.

torch is imported on first use of ``functions``, ``get``, ``names`` or ``deterministic``, so
that ``import actlab.pipeline`` (and every pipeline worker) starts without it.
"""
from actlab.params import ParameterError, check
from actlab.record import record

__all__ = ["functions", "get", "names", "check", "ParameterError", "record", "deterministic"]


def __getattr__(name):
    if name in ("functions", "get", "names"):
        import actlab.functions as functions

        return functions if name == "functions" else getattr(functions, name)
    if name == "deterministic":
        from actlab.seeding import deterministic

        return deterministic
    raise AttributeError(f"module 'actlab' has no attribute {name!r}")
