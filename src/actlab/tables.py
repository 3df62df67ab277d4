"""Tables generated from the registry, rendered as MyST markdown in the notebook output."""
from __future__ import annotations

from actlab import functions
from actlab.numbers import fmt


def cell(text) -> str:
    """A table cell: a literal ``|`` would split the row. Outside math it is escaped; inside
    ``$...$`` an escape would reach TeX as ``\\|`` (a double bar), so it becomes ``\\vert``."""
    parts = str(text).replace("\n", " ").split("$")
    for i, part in enumerate(parts):
        parts[i] = part.replace("|", r"\vert ") if i % 2 else part.replace("\\|", "|").replace("|", "\\|")
    return "$".join(parts)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def registry_table(names: list[str] | None = None, n_in: int = 64) -> str:
    """Name, formula, parameters, extra learnable parameters per unit (with ``n_in`` inputs:
    maxout's count grows with them) and reference, one row each."""
    rows = []
    for n in names or functions.names():
        a = functions.get(n)
        params = ", ".join(f"{k} = {v:.6g}" for k, v in a.params.items()) or "none"
        cite = f"{{cite:p}}`{a.cite}`" if a.cite else ""
        extra = functions.extra_per_unit(n, n_in)
        if a.elementwise and a.learnable:  # the book's networks share it across a layer's units
            extra_text = f"{a.learnable} per layer, shared by its units (not per unit)"
        elif a.elementwise:
            extra_text = str(extra)
        elif a.gate is not None:
            extra_text = f"{extra}: n_in + 1, the gate's linear map"
        else:
            extra_text = f"{extra}: (k − 1)(n_in + 1), k = {a.params['k']}"
        rows.append([a.label, f"${a.latex}$", params, extra_text, cite])
    return markdown_table(["function", "formula", "parameters",
                           f"learnable per unit beyond an affine unit ({n_in} inputs)", "reference"], rows)


def properties_table(rows: list[dict]) -> str:
    """The measured properties, one row per function (see actlab.properties.table_rows)."""
    yes = lambda b: "yes" if b else "no"
    out = []
    for r in rows:
        a = functions.get(r["name"])
        if "gate" in r:  # a gated layer a g(b): measured in its two inputs, value a and gate input b
            kinks = ", ".join(f"b = {fmt(k)} (uses {fmt(v)})" for k, v in zip(r["gate_kinks"], r["gate_torch_at_kinks"],
                                                                                 strict=True)) or "nowhere"
            ma, mb = r["monotone_ab"]
            lo, hi = r["bounded"]
            out.append([a.label, "yes", kinks, f"in a: {yes(ma)}; in b: {yes(mb)}", fmt(r["f0"], zero=1e-12),
                        "depends on the learned maps", f"{yes(lo)} / {yes(hi)}", f"+{r['extra']}"])
            continue
        if "nonlinear" not in r:  # maxout, a layer
            # a max over k learned pieces: its shape, and so these properties, depend on the weights
            dep = "depends on the learned pieces"
            out.append([a.label, "yes", "where two pieces cross", dep, dep, dep, dep, f"+{r['extra']}"])
            continue
        kinks = ", ".join(f"{fmt(k)} (uses {fmt(v)})" for k, v in zip(r["kinks"], r["torch_at_kinks"], strict=True)) or "nowhere"
        mono = "yes" if r["decrease"] < 1e-9 else f"no (dips {fmt(r['decrease'])})"
        lo, hi = r["bounded"]
        out.append([a.label, yes(r["nonlinear"]), kinks, mono,
                    fmt(r["f0"], zero=1e-12), fmt(r["mean"], zero=5e-4), f"{yes(lo)} / {yes(hi)}", f"+{r['extra']}"])
    return markdown_table(["function", "nonlinear", "not differentiable at (torch's value)", "monotone",
                           "f(0)", "mean output, N(0,1) input", "bounded below / above",
                           "extra parameters per 64-unit layer"], out)


def cost_table(t, names: list[str]) -> str:
    """Nanoseconds per element (median over rounds, 95% interval) of each function's torch
    kernel and registry form (where it differs) forward, and backward; "—" where not timed."""
    def cell_ns(key):
        if not t.has(key):
            return "—"
        m = t.ns(key)
        return f"{fmt(m.value, 2)} ({fmt(m.lo, 2)}–{fmt(m.hi, 2)})"

    bwd = lambda n: cell_ns(f"{n}:bwd_torch") if t.has(f"{n}:bwd_torch") else cell_ns(f"{n}:bwd_registry") + " ‡"
    rows = [[functions.get(n).label, cell_ns(f"{n}:fwd_torch"), cell_ns(f"{n}:fwd_registry"), bwd(n)] for n in names]
    rows += [["plain copy, x.clone()", cell_ns("copy"), "—", "—"],
             [f"linear layer, {t.width} → {t.width}", cell_ns("linear"), "—", "—"]]
    return markdown_table(["function", "forward, torch kernel", "forward, registry form",
                           "backward, autograd of the kernel (‡ registry derivative × gradient)"], rows)


def cost_threads_table(timings: dict) -> str:
    """The claims' ratios at each thread count: median over every round of every build, and the
    interval spanning each build's (:func:`actlab.cost.spread`)."""
    from actlab.cost import excess_share, fwd_key

    key = lambda op: op if op in ("exp", "linear") else fwd_key(op)  # noqa: E731
    cell = lambda m: f"{fmt(m.value)} ({fmt(m.lo)}–{fmt(m.hi)})"  # noqa: E731
    rows = []
    for k, t in sorted(timings.items()):
        rows.append([f"{k} thread" + ("s" if k > 1 else ""), *(cell(t.ratio(key(a), key(b))) for a, b in (
            ("exp", "relu"), ("sigmoid", "relu"), ("tanh", "relu"))), cell(excess_share(t, "sigmoid")),
            cell(t.ratio("linear", fwd_key("relu")))])
    return markdown_table(["torch threads", "exp ÷ ReLU", "sigmoid ÷ ReLU", "tanh ÷ ReLU",
                           "sigmoid backward: share of the forward's extra time", "linear layer ÷ ReLU"], rows)


def saturation_table(rows: list[dict]) -> str:
    return markdown_table(["function", "left (x → −∞)", "right (x → +∞)"],
                          [[functions.get(r["name"]).label, *r["saturation"]] for r in rows if "saturation" in r])


def claims_table(rows: list[dict]) -> str:
    """The ledger: claim, verdict, the rule and what was measured against it, where."""
    link = lambda c: f"{{doc}}`{c}`" if c else "—"
    return markdown_table(["#", "the claim (our words)", "verdict", "each half of the seeds", "rule and measured value",
                           "tested in"],
                          [[str(i + 1), r["text"], f"**{r['record'].label}**", r["record"].stability,
                            r["record"].details(), link(r["chapter"])] for i, r in enumerate(rows)])
