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
