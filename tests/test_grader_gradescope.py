"""Gradescope: grading inside the autograder layout, and the zip an instructor uploads."""

from __future__ import annotations

import stat
import subprocess
import zipfile

import jsonschema
import pytest
from grader_support import SUBMISSIONS, grader, hidden_tests, lab_repo, materialise, schema

pytestmark = pytest.mark.timeout(300)


def test_gradescope_grades_the_submission_folder_into_results_json(tmp_path):
    root = lab_repo(tmp_path / "repo")
    hidden_tests(root / "hidden-tests")  # as bundled
    autograder = tmp_path / "autograder"
    materialise(SUBMISSIONS / "partial", autograder / "submission")
    done = grader("--root", root, "gradescope", "--autograder", autograder, "--labs", "01")
    assert done.returncode == 0, done.stderr
    results = (autograder / "results" / "results.json").read_text()
    data = __import__("json").loads(results)
    assert list(jsonschema.Draft202012Validator(schema()).iter_errors(data)) == []
    assert data["score"] == 4
    hidden = [t for t in data["tests"] if t["visibility"] == "after_published"]
    assert [t["name"] for t in hidden] == ["Lab 01 · task 2 · test_divide_floats (hidden)"]
    assert "hidden-secret" not in results


def test_gradescope_without_a_submission_still_writes_results(tmp_path):
    autograder = tmp_path / "autograder"
    done = grader("--root", lab_repo(tmp_path / "repo"), "gradescope", "--autograder", autograder)
    assert done.returncode == 2
    data = __import__("json").loads((autograder / "results" / "results.json").read_text())
    assert data["score"] == 0 and "no submission folder" in data["output"]


def test_the_bundle_holds_the_scripts_the_repository_and_the_hidden_tests(tmp_path):
    root = lab_repo(tmp_path / "repo")
    hidden = hidden_tests(tmp_path / "hidden")
    out = tmp_path / "autograder.zip"
    done = grader("--root", root, "gradescope-bundle", "--out", out, "--labs", "01",
                  "--hidden-tests", hidden)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        scripts = {n: archive.read(n).decode() for n in ("setup.sh", "run_autograder")}
    assert {"setup.sh", "run_autograder", "labs/manifest.toml", "labs/01/calc.py",
            "hidden-tests/01/check_hidden_calc.py"} <= set(names)  # fmt: skip
    assert not any(n.startswith(("hidden/", ".venv/")) or "__pycache__" in n for n in names)
    assert all(modes[n] & stat.S_IXUSR for n in scripts)
    assert (
        "python -m grader gradescope --labs 01 --hidden-tests hidden-tests"
        in scripts["run_autograder"]
    )
    for name, text in scripts.items():
        script = tmp_path / name
        script.write_text(text)
        assert subprocess.run(["bash", "-n", script]).returncode == 0, name
