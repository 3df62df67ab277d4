"""Numbers reported in papers: cited constants, never measured, never glued as if measured.

Each constant carries its bibliography key and where in the paper it stands. A chapter shows
one with ``literature.glue(name)``, which glues the number as markdown, in italics (the book's
mark for "reported in a paper", explained in the introduction), under ``cited_<name>``. Prose
writes ``{glue:md}`cited_<name>` {cite:p}`KEY``` (a glued role is not resolved, so the
citation follows in the prose; a test checks that it does, with the right key). These glues
are not metrics: their plain-text form is not a literal, so ``metrics_from_notebook`` skips them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cited:
    value: float
    key: str      # references.bib key
    where: str    # section, figure or table of the paper
    what: str     # the quantity, in words
    approx: bool = True  # the paper gives it as "about"


CITED: dict[str, Cited] = {
    "glorot_jacobian_sv_standard": Cited(0.5, "glorot2010", "§4.2.2",
                                         "mean singular value of the layer Jacobian, standard initialisation"),
    "glorot_jacobian_sv_xavier": Cited(0.8, "glorot2010", "§4.2.2",
                                       "mean singular value of the layer Jacobian, normalised initialisation"),
    "glorot_jacobian_width": Cited(1000, "glorot2010", "§4.2.2", "units per layer of the network whose Jacobian "
                                   "singular values are reported", approx=False),
    "he_deep_layers": Cited(30, "he2015", "Fig. 3", "layers of the ReLU network that stalls under Xavier's "
                            "initialisation and trains under theirs", approx=False),
    "krizhevsky_speedup": Cited(6.0, "krizhevsky2012", "Fig. 1",
                                "epochs for tanh ÷ epochs for ReLU to 25% training error, CIFAR-10"),
    "mish_min": Cited(-0.30884, "misra2019", "§2", "Mish's minimum value", approx=True),
    "mish_argmin": Cited(-1.1924, "misra2019", "§2", "where Mish has its minimum", approx=True),
    "he_prelu_init": Cited(0.25, "he2015", "§2.1", "PReLU slope at initialisation", approx=False),
    "maas_leaky_slope": Cited(0.01, "maas2013", "§3", "leaky ReLU's negative slope", approx=False),
    "cs231n_dead_share": Cited(0.40, "cs231n", "Neural Networks Part 1",
                               "share of a network that may be dead at a high learning rate (anecdote)"),
    # MNIST-1D test accuracies (fractions), default dataset (4000 training / 1000 test signals).
    # Logistic regression, MLP and CNN: the abstract of arXiv v1. The GRU: only the table "Comparing
    # MNIST and MNIST-1D" of the paper's code repository (github.com/greydanus/mnist1d, README).
    # The MLP has two ReLU hidden layers of 100 units (the second with a skip connection); the CNN is
    # their ConvBase: three ReLU conv layers of 25 channels (kernels 5, 3, 3, stride 2, padding 1),
    # then a linear read-out, as actlab.ensemble.mnist1d_cnn builds it.
    "greydanus_mnist1d_logistic": Cited(0.32, "greydanus2020", "abstract",
                                        "MNIST-1D test accuracy of logistic regression", approx=False),
    "greydanus_mnist1d_mlp": Cited(0.68, "greydanus2020", "abstract",
                                   "MNIST-1D test accuracy of an MLP (ReLU)", approx=False),
    "greydanus_mnist1d_cnn": Cited(0.94, "greydanus2020", "abstract",
                                   "MNIST-1D test accuracy of a small CNN (ReLU)", approx=False),
    "greydanus_mnist1d_gru": Cited(0.91, "greydanus2020", "code repository README, table",
                                   "MNIST-1D test accuracy of a bidirectional GRU", approx=False),
}

# Shazeer (2020), Table 1: held-out log-perplexity of T5-base Transformers (d_model 768) on C4's
# span-filling objective, each feed-forward block's activation swapped; the gated variants have
# d_ff = 2048 against 3072, so every model has the same parameter and operation counts. Full
# training: 524,288 steps; four shorter runs of 65,536 steps each measured the inter-run
# variability, given in parentheses in the table. "Swish" there is x sigma(x), our SiLU.
_SHAZEER_TABLE1 = {  # row: (65,536 steps, its spread over four runs, 524,288 steps)
    "relu": (1.997, 0.005, 1.677), "gelu": (1.983, 0.005, 1.679), "swish": (1.994, 0.003, 1.683),
    "glu": (1.982, 0.006, 1.663), "reglu": (1.953, 0.003, 1.645), "geglu": (1.942, 0.004, 1.633),
    "swiglu": (1.944, 0.010, 1.636),
}
for _row, (_short, _spread, _long) in _SHAZEER_TABLE1.items():
    CITED[f"shazeer_logppl_{_row}_65k"] = Cited(_short, "shazeer2020", "Table 1", f"held-out log-perplexity, "
                                                f"FFN {_row}, 65,536 training steps (T5 base on C4)", approx=False)
    CITED[f"shazeer_spread_{_row}_65k"] = Cited(_spread, "shazeer2020", "Table 1", f"inter-run variability of the "
                                                f"four 65,536-step runs, FFN {_row}", approx=False)
    CITED[f"shazeer_logppl_{_row}_524k"] = Cited(_long, "shazeer2020", "Table 1", f"held-out log-perplexity, "
                                                 f"FFN {_row}, 524,288 training steps (T5 base on C4)", approx=False)
CITED["shazeer_d_ff"] = Cited(3072, "shazeer2020", "§3.1", "hidden width of the plain feed-forward blocks", approx=False)
CITED["shazeer_d_ff_gated"] = Cited(2048, "shazeer2020", "§3.1", "hidden width of the gated feed-forward blocks",
                                    approx=False)
CITED["shazeer_d_model"] = Cited(768, "shazeer2020", "§3.1", "model width (inputs and outputs of a feed-forward block)",
                                 approx=False)


def get(name: str) -> Cited:
    try:
        return CITED[name]
    except KeyError:
        raise KeyError(f"no cited constant {name!r}; known: {', '.join(sorted(CITED))}") from None


def markdown(name: str, fmt: str = "{:g}") -> str:
    """The constant as markdown, in italics: reported, not measured."""
    c = get(name)
    value = fmt.format(c.value).replace("-", "−")
    return f"*{'≈' if c.approx else ''}{value}*"


def glue(name: str, fmt: str = "{:g}") -> float:
    """Glue the constant as markdown under ``cited_<name>`` and return its value."""
    from IPython.display import Markdown
    from myst_nb import glue as _glue

    _glue("cited_" + name, Markdown(markdown(name, fmt)), display=False)
    return get(name).value
