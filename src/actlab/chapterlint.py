"""ruff on the chapters' code cells: each chapter as a notebook under ``_build/lint``, which ruff reads.

Import order (I001) is left to the author: a chapter imports where the lesson needs it. B023
(a closure over a loop variable) is left out too: chapters build such closures only to call them
in the same iteration (``check(...)`` rules)."""
import subprocess
import sys

from actlab.paths import BUILD, CHAPTERS


def main() -> int:
    import jupytext

    from actlab import contents, pipeline

    out = BUILD / "lint"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.ipynb"):
        old.unlink()
    files = []
    for name in contents.chapters():
        nb = jupytext.read(CHAPTERS / f"{name}.md")
        nb.metadata["kernelspec"] = pipeline.KERNELSPEC
        files.append(out / f"{name}.ipynb")
        jupytext.write(nb, files[-1])
    # named one by one: ruff skips a folder under _build (excluded in pyproject.toml)
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--ignore", "I001,B023", *map(str, files)]).returncode


if __name__ == "__main__":
    sys.exit(main())
