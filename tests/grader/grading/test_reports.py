"""The grader's reports for a small class on the database lab, and the cache between runs."""

from __future__ import annotations

import csv
import re
import tarfile

import jsonschema
import pytest

from tests.grader.grading.support import (
    REPO,
    SUBMISSIONS,
    grader,
    lab_repo,
    materialise,
    results,
    schema,
)

pytestmark = pytest.mark.timeout(300)
SHARED_SCHEMA = REPO.parent / "shared" / "specs" / "gradescope-results.schema.json"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    root = lab_repo(base / "repo")
    subs = base / "submissions"
    materialise(SUBMISSIONS / "perfect", subs / "ada")
    materialise(SUBMISSIONS / "starter", subs / "bob")  # no labs/02 file: graded as the starter
    clone = materialise(SUBMISSIONS / "perfect", base / "clone" / "cy-labs")
    with tarfile.open(subs / "cy.tar.gz", "w:gz") as archive:
        archive.add(clone, arcname="cy-labs")
    out = base / "out"
    first = grader("--root", root, "grade", subs, "--out", out, "--labs", "2", "--jobs", "2")
    second = grader("--root", root, "grade", subs, "--out", out, "--labs", "02", "--jobs", "2")
    return {"root": root, "subs": subs, "out": out, "first": first, "second": second}


def test_gradebook_has_a_row_per_student_with_scores_total_and_flags(graded):
    assert graded["first"].returncode == 0, graded["first"].stderr
    with (graded["out"] / "gradebook.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [list(rows[0])] == [["student", "lab_02", "lab_02_max", "total", "max_total", "flags"]]
    scores = {r["student"]: (r["lab_02"], r["lab_02_max"], r["total"]) for r in rows}
    assert scores == {"ada": ("4", "4", "4"), "bob": ("0", "4", "0"), "cy": ("4", "4", "4")}


def test_results_json_follows_the_gradescope_schema(graded):
    validator = jsonschema.Draft202012Validator(schema())
    for student in ("ada", "bob", "cy"):
        data = results(graded["out"], student)
        assert list(validator.iter_errors(data)) == []
        assert {t["visibility"] for t in data["tests"]} == {"visible"}  # no hidden tests here
    bob = results(graded["out"], "bob")
    assert bob["score"] == 0 and all(t["status"] == "failed" for t in bob["tests"])
    assert (
        "TODO task 1" in bob["tests"][0]["output"]
        and "Hint: CREATE TABLE" in bob["tests"][0]["output"]
    )


def test_feedback_says_what_failed_and_gives_the_hint(graded):
    text = (graded["out"] / "bob" / "feedback.md").read_text()
    assert "## Lab 02 · Store: 0 / 4" in text
    assert "### Task 1. Save and load a note in PostgreSQL: 0 of 2 tests passed" in text
    assert "NotImplementedError: TODO task 1" in text
    assert "**Hint:** CREATE TABLE IF NOT EXISTS notes" in text
    assert "labs/02/store.py is not in your submission: the starter was graded." in text


def test_summary_is_one_self_contained_page(graded):
    page = (graded["out"] / "summary.html").read_text()
    assert "<svg" in page and "Lab 02 · Store" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched
    assert "<script" not in page
    assert "test_a_saved_note_loads_back" in page  # most-failed tests (bob failed them)


def test_a_second_run_reuses_every_unchanged_result(graded):
    second = graded["second"]
    assert second.returncode == 0, second.stderr
    assert "3 student(s), 0 run(s)" in second.stdout
    assert (graded["out"] / "ada" / "results.json").exists()


def test_a_changed_file_or_force_runs_again(graded, tmp_path):
    subs, root, out = graded["subs"], graded["root"], graded["out"]
    (subs / "bob" / "labs" / "02").mkdir(parents=True)
    (subs / "bob" / "labs" / "02" / "store.py").write_bytes(
        (SUBMISSIONS / "perfect/labs/02/store.py.fixture").read_bytes()
    )
    changed = grader("--root", root, "grade", subs, "--out", out, "--labs", "02", "--quiet")
    assert "3 student(s), 1 run(s)" in changed.stdout, changed.stderr
    assert results(out, "bob")["score"] == 4
    forced = grader(
        "--root", root, "grade", subs, "--out", out, "--labs", "02", "--force", "--quiet"
    )
    assert "3 student(s), 4 run(s)" in forced.stdout, forced.stderr  # the solution's run too


def test_an_empty_folder_of_submissions_says_what_to_put_there(tmp_path):
    (tmp_path / "subs").mkdir()
    done = grader(
        "--root", lab_repo(tmp_path / "repo"), "grade", tmp_path / "subs", "--out", tmp_path / "out"
    )
    assert done.returncode == 2
    assert "no submissions in" in done.stderr and ".zip / .tar.gz per student" in done.stderr


def test_an_unknown_lab_is_refused(tmp_path):
    (tmp_path / "subs" / "ada").mkdir(parents=True)
    done = grader("--root", lab_repo(tmp_path / "repo"), "grade", tmp_path / "subs", "--out",
                  tmp_path / "out", "--labs", "07")  # fmt: skip
    assert done.returncode == 2 and "no such lab: 07" in done.stderr


@pytest.mark.skipif(not SHARED_SCHEMA.exists(), reason="the workshop's shared/specs is not here")
def test_the_schema_copy_is_byte_identical_to_the_shared_one():
    copy = REPO / "specs" / "gradescope-results.schema.json"
    assert copy.read_bytes() == SHARED_SCHEMA.read_bytes()
