"""The pipeline on a tiny throw-away book: change detection, parameters, failures."""
import json
import textwrap

import pytest

from actlab import pipeline

HEADER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
"""


def chapter(body: str, params: str = "n = 3") -> str:
    return HEADER + textwrap.dedent(f"""
    # Demo

    ```{{code-cell}} ipython3
    :tags: [parameters]

    {params}
    ```

    ```{{code-cell}} ipython3
    {body}
    ```
    """)


OK_BODY = ("import actlab\\nfrom actlab.params import check, integer\\n"
           "P = check(n=(n, integer(lo=1)))\\nactlab.record('twice', 2 * n)").replace("\\n", "\n    ")


@pytest.fixture
def book(tmp_path, monkeypatch):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "helper.py").write_text("X = 1\n")
    (tmp_path / "requirements.lock").write_text("numpy==2\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                      "  - file: chapters/demo\n  - file: chapters/broken\n")
    (tmp_path / "chapters" / "demo.md").write_text(chapter(OK_BODY))
    (tmp_path / "chapters" / "broken.md").write_text(chapter("1 / 0"))
    (tmp_path / "chapters" / "profiles.toml").write_text("[quick.demo]\nn = 5\n")
    for name, value in {"ROOT": tmp_path, "CHAPTERS": tmp_path / "chapters",
                        "BUILD": tmp_path / "_build", "SRC": tmp_path / "src",
                        "LOCK": tmp_path / "requirements.lock",
                        "PROFILES": tmp_path / "chapters" / "profiles.toml"}.items():
        monkeypatch.setattr(pipeline, name, value)
    return tmp_path


def test_reexecutes_only_on_change(book):
    assert pipeline.chapters() == ["demo", "broken"]
    ran = pipeline.execute("quick", ["demo"], jobs=1)
    assert list(ran) == ["demo"]
    metrics = json.loads((book / "_build" / "quick" / "metrics.json").read_text())
    assert metrics == {"demo.twice": 10}  # the quick profile's n = 5 reached the notebook
    assert pipeline.execute("quick", ["demo"], jobs=1) == {}  # no-op: nothing runs
    (book / "src" / "helper.py").write_text("X = 2\n")  # any change under src/
    assert list(pipeline.execute("quick", ["demo"], jobs=1)) == ["demo"]
    (book / "requirements.lock").write_text("numpy==3\n")
    assert list(pipeline.execute("quick", ["demo"], jobs=1)) == ["demo"]
    # parameters are part of the key: the full profile (n = 3) is a separate result
    assert list(pipeline.execute("full", ["demo"], jobs=1)) == ["demo"]
    assert json.loads((book / "_build" / "metrics.json").read_text()) == {"demo.twice": 6}


def test_bad_value_stops_with_one_sentence(book):
    with pytest.raises(pipeline.PipelineError) as e:
        pipeline.execute("quick", ["demo"], jobs=1, overrides={"n": 0})
    msg = str(e.value)
    assert "chapter 'demo' failed in code cell 2 of chapters/demo.md (`import actlab`)" in msg
    assert "ParameterError: parameter 'n' must be an integer from 1; got 0." in msg
    assert not (book / "_build" / "quick" / "executed" / "demo.ipynb").exists()


def test_unknown_name_is_refused_before_running(book):
    with pytest.raises(pipeline.PipelineError, match=r"chapter 'demo': unknown parameter 'm'; allowed: n\."):
        pipeline.execute("quick", ["demo"], jobs=1, overrides={"m": 1})


def test_failing_cell_fails_loudly_and_leaves_nothing_stale(book, capsys):
    html = book / "_build" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("stale")
    assert pipeline.main(["book", "--profile", "full", "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    assert "chapter 'broken' failed in code cell 2 of chapters/broken.md" in err and "ZeroDivisionError" in err
    assert "(`1 / 0`)" in err
    assert not html.exists(), "a failed build must not leave the previous book in place"
    assert (book / "_build" / "failed" / "broken.ipynb").exists()
    assert (book / "_build" / "executed" / "demo.ipynb").exists()  # the good chapter still ran


def test_unknown_chapter_and_profile(book):
    with pytest.raises(pipeline.PipelineError, match="unknown chapter 'nope'"):
        pipeline.execute("quick", ["nope"])
    with pytest.raises(pipeline.PipelineError, match="profile must be one of full, quick"):
        pipeline.profile_params("slow", "demo")


def test_parameters_cell_must_be_literal(book):
    (book / "chapters" / "demo.md").write_text(chapter(OK_BODY, params="n = 3\n    m = n + 1"))
    with pytest.raises(pipeline.PipelineError, match="only literal assignments"):
        pipeline.execute("quick", ["demo"], jobs=1)


def test_cli_values_parse_as_literals():
    assert pipeline._value("10") == 10 and pipeline._value("0.5") == 0.5
    assert pipeline._value("['relu', 'tanh']") == ["relu", "tanh"] and pipeline._value("relu") == "relu"


def test_a_dead_kernel_is_reported_with_the_chapter_name(book):
    (book / "chapters" / "broken.md").write_text(chapter("import os\n    os._exit(3)"))
    with pytest.raises(pipeline.PipelineError, match="chapter 'broken'"):
        pipeline.execute("quick", ["broken"], jobs=1)
    assert not (book / "_build" / "quick" / "executed" / "broken.ipynb").exists()
