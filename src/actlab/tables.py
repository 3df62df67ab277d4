"""Tables generated from the registry, rendered as MyST markdown in the notebook output."""
from __future__ import annotations

from actlab import functions


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def registry_table(names: list[str] | None = None) -> str:
    """Name, formula, parameters, learnable parameters per unit and reference, one row each."""
    rows = []
    for n in names or functions.names():
        a = functions.get(n)
        params = ", ".join(f"{k} = {v:.6g}" for k, v in a.params.items()) or "none"
        cite = f"{{cite:p}}`{a.cite}`" if a.cite else ""
        rows.append([a.label, f"${a.latex}$", params, str(a.learnable), cite])
    return markdown_table(["function", "formula", "parameters", "learnable per unit", "reference"], rows)
