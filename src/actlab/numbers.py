"""The book's one number formatter, for prose, tables and figures.

Sensible significant figures; a caller that knows its rounding level passes ``zero`` so
noise prints as 0 (never "-0" or "1.7e-16"); infinities and NaN print as words, not "inf".
"""
from __future__ import annotations

import math


def fmt(x, sig: int = 3, zero: float = 0.0, never: str = "never") -> str:
    """Format a number with ``sig`` significant figures.

    ``never`` is what +inf means where it stands (for example "never reached"); -inf
    prints as "−∞" and NaN as "n/a". Integers print as integers.
    """
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}".replace(",", " ") if abs(x) >= 10000 else str(x)
    x = float(x)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return never if x > 0 else "−∞"
    if abs(x) <= zero:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= 5 or mag <= -4:
        mant = f"{x / 10 ** mag:.{max(sig - 1, 0)}f}".rstrip("0").rstrip(".")
        if mant in ("10", "-10"):  # rounding carried over
            mant, mag = mant[:-1] or "1", mag + 1
        return f"{mant}×10{_sup(mag)}".replace("-", "−")
    decimals = max(sig - 1 - mag, 0)
    s = f"{x:.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", "0"):
        return "0"
    return s.replace("-", "−")


def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def pct(p, sig: int = 2) -> str:
    """A share as a percentage: 0.583 → "58%"; exact 0 and 1 stay "0%" and "100%"."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return fmt(100 * float(p), sig=sig) + "%"
