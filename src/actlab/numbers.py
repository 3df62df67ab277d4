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
        return (f"{x:,}".replace(",", " ") if abs(x) >= 10000 else str(x)).replace("-", "−")
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
    if mag >= sig:  # 17599.3 → "17 600": digits beyond the significant ones are not printed
        return fmt(int(round(x, sig - 1 - mag)))
    decimals = max(sig - 1 - mag, 0)
    s = f"{x:.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", "0"):
        return "0"
    return s.replace("-", "−")


def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def count_word(n: int) -> str:
    """A small count as a word for prose ('three'), larger ones as digits."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def agreement(gap: float) -> str:
    """How closely two computations agree, for prose: "exactly", or "to within 1.5×10⁻⁸"."""
    return "exactly" if gap == 0 else f"to within {fmt(gap)}"


def pct(p, sig: int = 2) -> str:
    """A share as a percentage: 0.583 → "58%"; exact 0 and 1 stay "0%" and "100%"."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return fmt(100 * float(p), sig=sig) + "%"


def spec(value, format_spec: str = "") -> str:
    """A glued number in prose (``{glue:text}`name:.2f```), through the book's one formatter.

    The format spec says how precise the author wants it: ``.Nf`` N decimals, ``.Ne``/``.Ng``
    N (+1 for e) significant figures, ``.N%`` a percentage with N decimals, none or ``s`` three
    significant figures. Whatever the spec, a number never prints as "-0", as Python's
    "1.7e-16" or "4.14e+03", or as "inf"; a minus sign is a true minus.
    """
    if isinstance(value, str) or format_spec[-1:] in ("s", "") and not isinstance(value, (int, float)):
        return str(value)
    kind = format_spec[-1:] if format_spec else "s"
    digits = format_spec[1:-1] if format_spec.startswith(".") else ""
    n = int(digits) if digits.isdigit() else None
    if isinstance(value, bool) or kind in ("d", "s") and isinstance(value, int):
        return fmt(value)
    x = float(value)
    if not math.isfinite(x):
        return fmt(x)
    if kind == "%":
        s = f"{100 * x:.{n if n is not None else 0}f}"
        return _clean(s) + "%"
    if kind in ("e", "E"):
        return fmt(x, sig=(n if n is not None else 2) + 1)
    if kind in ("g", "G"):
        return fmt(x, sig=n or 3)
    if kind in ("f", "F"):
        d = n if n is not None else 2
        if x != 0 and abs(x) < 0.5 * 10 ** -d:  # would print as zero: show its size instead
            return fmt(x, sig=2)
        if abs(x) >= 1e4 and d == 0:
            return fmt(round(x))  # digits grouped: 12 345
        return _clean(f"{x:.{d}f}")
    return fmt(x)


def _clean(s: str) -> str:
    """No negative zero ("-0.00" is 0), and a typographic minus."""
    if s.startswith("-") and not any(c in "123456789" for c in s):
        s = s[1:]
    return s.replace("-", "−")
