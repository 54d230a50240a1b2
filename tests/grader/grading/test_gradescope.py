"""Gradescope: the zip an instructor uploads, and its run_autograder as Gradescope runs it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest

from grader.postgres import resolve
from tests.grader.grading.support import (
    REPO,
    SUBMISSIONS,
    grader,
    hidden_tests,
    lab_repo,
    materialise,
    schema,
)

pytestmark = pytest.mark.timeout(300)


def _git_repo(dest: Path) -> Path:
    """The fixture labs in a git checkout with this grader, as the course's repository is."""
    root = lab_repo(dest)
    shutil.copytree(REPO / "grader", root / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".gitignore").write_text("/submissions/\n/grades/\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root


def _bundle(tmp_path: Path) -> tuple[Path, subprocess.CompletedProcess]:
    root = _git_repo(tmp_path / "repo")
    (root / "submissions" / "ada").mkdir(parents=True)  # grading locally, as the README says
    (root / "submissions" / "ada" / "secret.py").write_text("other students' code")
    (root / "grades").mkdir()
    (root / "grades" / "gradebook.csv").write_text("student,total\n")
    (root / "notes.txt").write_text("not committed")
    out = tmp_path / "autograder.zip"
    done = grader("--root", root, "gradescope-bundle", "--out", out, "--labs", "01",
                  "--hidden-tests", hidden_tests(tmp_path / "hidden"))  # fmt: skip
    return out, done


def test_the_bundle_holds_tracked_files_the_scripts_and_the_hidden_tests(tmp_path):
    out, done = _bundle(tmp_path)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        scripts = {n: archive.read(n).decode() for n in ("setup.sh", "run_autograder")}
    assert {"setup.sh", "run_autograder", "labs/manifest.toml", "labs/01/calc.py",
            "hidden-tests/01/check_hidden_calc.py"} <= set(names)  # fmt: skip
    assert not any(n.startswith(("hidden/", ".venv/", "submissions/", "grades/")) for n in names)
    assert "notes.txt" not in names
    assert "warning: 1 untracked file(s) left out of the bundle: notes.txt" in done.stderr
    assert all(modes[n] & stat.S_IXUSR for n in scripts)
    assert "--labs 01 --hidden-tests hidden-tests" in scripts["run_autograder"]
    assert "gradescope --prepare" in scripts["setup.sh"]
    assert "sys.version_info < (3, 11, 5)" in scripts["setup.sh"]
    pip = [line for line in scripts["setup.sh"].splitlines() if "pip install" in line]
    assert pip and not any(" -q" in line for line in pip)  # pip's errors stay visible
    assert "-e '.[grade]'" in scripts["setup.sh"]
    for name, text in scripts.items():
        script = tmp_path / name
        script.write_text(text)
        assert subprocess.run(["bash", "-n", script]).returncode == 0, name


def test_a_folder_that_is_not_a_git_checkout_is_refused(tmp_path):
    done = grader("--root", lab_repo(tmp_path / "repo"), "gradescope-bundle", "--out",
                  tmp_path / "a.zip")  # fmt: skip
    assert done.returncode == 2 and "not a git checkout" in done.stderr


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """The bundle unpacked in a fake /autograder, prepared as setup.sh does (but apt)."""
    base = tmp_path_factory.mktemp("gradescope")
    bundle, done = _bundle(base)
    assert done.returncode == 0, done.stderr
    # Like /autograder: a folder the runs' accounts can reach (pytest's own tmp is 0700).
    root = Path(tempfile.mkdtemp(prefix="fake-autograder-"))
    os.chmod(root, 0o755)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        os.chmod(root / "source" / script, 0o755)
    (root / "source" / ".venv").symlink_to(REPO / ".venv")  # what setup.sh's pip install makes
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "DATABASE_URL": resolve().dsn}
    setup = (root / "source" / "setup.sh").read_text()
    prepare = next(line for line in setup.splitlines() if "gradescope --prepare" in line)
    done = subprocess.run(prepare.strip(), shell=True, cwd=root / "source", env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    yield root, env
    shutil.rmtree(root, ignore_errors=True)


def _run_autograder(root: Path, env: dict, submission: str | None) -> tuple:
    folder = root / "submission"
    subprocess.run(["rm", "-rf", str(folder), str(root / "results")], check=True)
    if submission:
        materialise(SUBMISSIONS / submission, folder)
    started = time.monotonic()
    done = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    seconds = time.monotonic() - started
    results = root / "results" / "results.json"
    data = json.loads(results.read_text()) if results.exists() else None
    return done, data, seconds


@pytest.mark.parametrize(("submission", "score"),
                         [("perfect", 10), ("starter", 0), ("syntax_error", 0)])  # fmt: skip
def test_run_autograder_grades_a_submission_into_valid_results(autograder, submission, score):
    root, env = autograder
    done, data, seconds = _run_autograder(root, env, submission)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(jsonschema.Draft202012Validator(schema()).iter_errors(data)) == []
    assert data["score"] == score, done.stdout[-3000:]
    assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(10)
    assert 0 <= data["execution_time"] <= seconds + 1
    assert data["stdout_visibility"] == "hidden"
    hidden = [t for t in data["tests"] if t["visibility"] == "after_published"]
    assert [t["name"] for t in hidden] == ["Lab 01 · task 2 · test_divide_floats (hidden)"]
    assert "hidden-secret" not in json.dumps(data)
    # For the instructor only (stdout): the solution came from setup's cache, and the run's log.
    assert "runs made: 1 " in done.stdout
    assert "--- log of lab 01" in done.stdout


def test_run_autograder_fails_loudly_when_the_database_is_down(autograder):
    root, env = autograder
    broken = {**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres"}
    done, data, _ = _run_autograder(root, broken, "perfect")
    assert done.returncode == 1
    assert data is None  # no results.json: Gradescope shows a failed autograder, not a 0
    assert "AUTOGRADER FAILED: the database at" in done.stdout


def test_run_autograder_without_a_submission_fails_loudly(autograder):
    root, env = autograder
    done, data, _ = _run_autograder(root, env, None)
    assert done.returncode == 1 and data is None
    assert "no submission folder" in done.stdout
