"""actlab: everything the book 'Activation functions, measured' computes and draws."""
from actlab import functions
from actlab.functions import get, names
from actlab.params import ParameterError, check
from actlab.record import record
from actlab.seeding import deterministic

__all__ = ["functions", "get", "names", "check", "ParameterError", "record", "deterministic"]
