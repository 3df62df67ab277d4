"""The build's command line and its inputs, without running a kernel: names, parameters and
values reach the chapter intact, and nothing a user types reaches a shell unchecked."""
import pytest

from actlab import contents, evidence, pipeline


def test_cli_values_parse_as_literals():
    assert pipeline._value("10") == 10 and pipeline._value("0.5") == 0.5
    assert pipeline._value("['relu', 'tanh']") == ["relu", "tanh"] and pipeline._value("relu") == "relu"
    # a negative value is a value, not an option
    assert pipeline._parse(["chapter", "saturation", "-p", "x_max", "-1e999"])[2] == {"x_max": float("-inf")}
    with pytest.raises(contents.PipelineError, match="-p takes a parameter's name and its value"):
        pipeline._parse(["chapter", "saturation", "-p", "x_max"])
    with pytest.raises(contents.PipelineError, match="profile must be one of full, quick"):
        pipeline._parse(["book", "--profile", "slow"])


@pytest.mark.parametrize("var", ["JOBS=2; touch {marker} #", "JOBS=$(touch {marker})", "JOBS=99", "JOBS=0",
                                 "PROFILE=full; touch {marker}", "PROFILE=slow"])
def test_make_refuses_a_jobs_or_profile_it_does_not_know(var, tmp_path):
    import subprocess

    from actlab.paths import ROOT

    marker = tmp_path / "ran"
    proc = subprocess.run(["make", "-n", "book", var.format(marker=marker)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and ("JOBS" in proc.stderr or "PROFILE" in proc.stderr), proc.stderr
    assert not marker.exists()


def test_a_chapter_depends_on_the_modules_it_imports_and_theirs(tmp_path, monkeypatch):
    pkg = tmp_path / "actlab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from actlab.params import check\n")
    (pkg / "params.py").write_text("X = 1\n")
    (pkg / "experiment.py").write_text("import numpy\n\ndef f():\n    from actlab import helper\n")
    (pkg / "helper.py").write_text("")
    (pkg / "unrelated.py").write_text("")
    monkeypatch.setitem(evidence.ROOTS, "actlab", pkg)
    got = {p.name for p in pipeline.module_files("%matplotlib inline\nfrom actlab import experiment\n")}
    assert got == {"__init__.py", "params.py", "experiment.py", "helper.py"}  # a lazy import counts too


@pytest.mark.parametrize("name", ["sigmoid; touch {marker}", "sigmoid gallery", "nope", "$(touch {marker})"])
def test_make_chapter_refuses_a_name_that_is_not_a_chapter(name, tmp_path):
    import subprocess

    from actlab.paths import ROOT

    marker = tmp_path / "ran"
    proc = subprocess.run(["make", "-s", "chapter", f"NAME={name.format(marker=marker)}"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and ("NAME must be" in proc.stderr or "usage" in proc.stderr)
    assert not marker.exists()


def _through_make(command: str):
    """A printed `make chapter ...` command through bash and make (dry run), as the pipeline's
    command line would parse it."""
    import shlex
    import subprocess

    from actlab.paths import ROOT

    proc = subprocess.run(["bash", "-c", command.replace("make ", "make -n ", 1)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if "actlab.pipeline chapter" in l)
    words = shlex.split(line)
    cmd, opts, params = pipeline._parse(words[words.index("actlab.pipeline") + 1:])
    return opts["args"][0], opts["profile"], params


def _printed_commands():
    return [(n, contents.rerun_command(n)) for n in contents.chapters()
            if contents.front_matter(contents.CHAPTERS / f"{n}.md").get("actlab", {}).get("rerun", True)]


@pytest.mark.parametrize("name, command", _printed_commands(), ids=lambda v: v if "make" not in v else "")
def test_each_pages_printed_command_reaches_the_chapter_intact(name, command):
    """The box's command, through bash and make (dry run), gives exactly the suggested
    parameters, each one the chapter declares, and changes something (not a default)."""
    import jupytext

    got_name, _, got = _through_make(command)
    assert got_name == name and got == contents.rerun_example(name) and got
    declared = contents.declared_parameters(jupytext.read(contents.CHAPTERS / f"{name}.md"))
    for k, v in got.items():
        assert k in declared and declared[k] != v, (k, v)


def _exercise_commands():
    return [(n, ex, contents.exercise_command(n, ex)) for n in contents.chapters() for ex in contents.exercises(n)]


@pytest.mark.parametrize("name, ex, command", _exercise_commands(), ids=lambda v: v if "make" not in v else "")
def test_each_exercise_command_reaches_the_chapter_intact(name, ex, command):
    """An exercise's printed command, through bash and make (dry run), asks for exactly the run
    whose numbers its solution quotes."""
    got_name, profile, got = _through_make(command)
    assert got_name == name and profile == contents.EXERCISE_PROFILE
    assert got == contents.exercises(name)[ex]


def test_importing_the_pipeline_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, actlab.pipeline; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


