"""No single submission stops a batch, and ids are safe, unique and the same from run to run.

One class of odd entries is graded twice on the fixture lab 01: archives and folders with names
that are not UTF-8, a folder nested 1,100 deep, ids that collide with the grader's own names or
with each other, a 250-character id, a failure message that tries to break out of feedback.md.
"""

from __future__ import annotations

import csv
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.grader.grading.support import SUBMISSIONS, grader, lab_repo, materialise, results

pytestmark = pytest.mark.timeout(600)
PERFECT = (SUBMISSIONS / "perfect/labs/01/calc.py.fixture").read_bytes()
STARTER = (SUBMISSIONS / "starter/labs/01/calc.py.fixture").read_bytes()
LONG = "x" * 250
DEPTH = 1100
HTML_NAME = "<img src=x onerror=alert(1)>.py"


def _clone(folder: Path, calc: bytes) -> Path:
    (folder / "labs" / "01").mkdir(parents=True)
    (folder / "labs" / "01" / "calc.py").write_bytes(calc)
    return folder


def _zip(path: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _zip_with_a_lying_utf8_flag(path: Path) -> None:
    """A zip whose member name is flagged UTF-8 but holds bytes that are not UTF-8."""
    _zip(path, {"labs/01/calc.py": PERFECT, "labs/01/tests/caf\u00e9.py": b"x"})
    data = path.read_bytes()
    assert data.count("caf\u00e9".encode()) == 2  # local header and central directory
    path.write_bytes(data.replace("caf\u00e9".encode(), b"caf\xff\xfe"))


def _tar_with_a_latin1_name(path: Path) -> None:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT, encoding="utf-8") as archive:
        for name, data in (("labs/01/calc.py", PERFECT),
                           (os.fsdecode(b"labs/01/tests/caf\xe9.py"), b"x")):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, __import__("io").BytesIO(data))


def _nest(folder: Path, depth: int) -> None:
    """``depth`` folders inside each other, made without recursion (os.makedirs recurses)."""
    path = str(folder)
    for _ in range(depth):
        path += "/d"
        os.mkdir(path)


def _unnest(folder: Path) -> None:
    """Remove what ``_nest`` made, deepest first (shutil.rmtree recurses too)."""
    path = str(folder)
    while os.path.isdir(path + "/d"):
        path += "/d"
    while path != str(folder):
        os.rmdir(path)
        path = os.path.dirname(path)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("batch")
    root = lab_repo(base / "repo")
    subs = base / "submissions"
    _clone(subs / "ada", PERFECT)
    _clone(subs / "_solution", STARTER)  # must not get the solution's score
    _clone(subs / "_logs", PERFECT)  # must not write into the logs folder
    _clone(subs / "alice", PERFECT)
    _zip(subs / "alice.zip", {"labs/01/calc.py": STARTER})
    materialise(SUBMISSIONS / "partial", subs / "alice-2")
    _clone(subs / LONG, PERFECT)
    _zip_with_a_lying_utf8_flag(subs / "badflag.zip")
    latin1 = _clone(subs / "latin1_names", PERFECT)
    (latin1 / "labs" / "01" / "tests").mkdir()
    Path(os.fsdecode(bytes(latin1) + b"/labs/01/tests/caf\xe9.py")).write_text("x = 1\n")
    _tar_with_a_latin1_name(subs / "latin1.tar.gz")
    _nest(_clone(subs / "deep", PERFECT), DEPTH)
    materialise(SUBMISSIONS / "code_fence", subs / "code_fence")
    materialise(SUBMISSIONS / "loud_failure", subs / "loud_failure")
    html = _clone(subs / "html_name", PERFECT)
    (html / "labs" / "01" / "tests").mkdir()
    (html / "labs" / "01" / "tests" / HTML_NAME).write_text("x = 1\n")
    out = base / "out"
    args = ("--root", root, "grade", subs, "--out", out, "--labs", "01", "--jobs", "2", "--quiet")
    first = grader(*args)
    ids_after_first = _gradebook(out) if (out / "gradebook.csv").exists() else {}
    with tarfile.open(subs / "alice.tgz", "w:gz") as archive:  # a newcomer who wants "alice"
        archive.add(_clone(base / "late" / "alice", PERFECT), arcname="alice")
    _clone(subs / "bea", PERFECT)
    second = grader(*args)
    yield {"out": out, "first": first, "second": second, "ids_after_first": ids_after_first}
    _unnest(subs / "deep")


def _gradebook(out: Path) -> dict[str, dict]:
    with (out / "gradebook.csv").open(encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def _lab(out: Path, student: str) -> tuple[float, list[str], list[str]]:
    data = results(out, student)
    lab = data["extra_data"]["labs"]["01"]
    return lab["score"], lab["flags"], [f for f in data["extra_data"]["flags"] if ":" not in f]


def test_the_batch_finishes_with_a_row_per_entry(batch):
    assert batch["first"].returncode == 0, batch["first"].stderr
    assert batch["second"].returncode == 0, batch["second"].stderr
    assert len(batch["ids_after_first"]) == 14


@pytest.mark.parametrize(
    ("student", "score", "lab_flags", "student_flags"),
    [
        ("ada", 10, [], []),
        ("solution", 0, [], []),  # the folder "_solution": a student, not the reference
        ("logs", 10, [], []),
        ("alice", 10, [], []),
        ("alice-2", 3.5, [], []),  # partial, without the hidden tests
        ("alice-3", 0, [], []),  # alice.zip
        ("badflag", 0, [], ["unreadable"]),
        ("latin1_names", 10, [], []),  # the test file it added was never read
        ("latin1", 10, [], []),
        ("deep", 10, [], []),
        ("code_fence", 8, [], []),
        ("loud_failure", 8, [], []),
        ("html_name", 10, [], ["edits"]),
    ],
)
def test_each_odd_entry_gets_its_score_and_flags(batch, student, score, lab_flags, student_flags):
    assert _lab(batch["out"], student) == (score, lab_flags, student_flags)


def test_reserved_names_never_reach_the_grader_s_own_folders(batch):
    out = batch["out"]
    assert sorted(p.name for p in (out / "_logs").iterdir() if not p.is_dir()) == []
    assert (out / "_logs" / "_solution" / "lab_01.log").is_file()
    assert not (out / "_solution").exists() and (out / "solution" / "feedback.md").is_file()
    # The cache is keyed by the grader's own ids: no name a student chose is a path there.
    cached = {p.name for p in (out / ".cache").iterdir()} - {"_solution"}
    assert len(cached) == 15  # every readable entry of the second batch, under a hash of its name
    assert all(re.fullmatch(r"[0-9a-f]{16}", name) for name in cached), cached


def test_a_250_character_id_is_capped_and_graded(batch):
    long = [s for s in batch["ids_after_first"] if s.startswith("xxxx")]
    assert len(long) == 1 and len(long[0]) <= 64
    assert _lab(batch["out"], long[0])[0] == 10


def test_ids_stay_the_same_when_newcomers_arrive(batch):
    second = _gradebook(batch["out"])
    for student, row in batch["ids_after_first"].items():
        assert second[student]["total"] == row["total"], student
    assert second["alice-4"]["total"] == "10"  # alice.tgz: alice, alice-2 and alice-3 are taken
    assert second["bea"]["total"] == "10"
    assert "2 run(s)" in batch["second"].stdout  # only the newcomers ran


def test_unreadable_says_why(batch):
    feedback = (batch["out"] / "badflag" / "feedback.md").read_text()
    assert "The submission could not be read: a file name in the archive is not valid UTF-8" in (
        feedback
    )


def test_names_that_are_not_utf8_are_reported_not_fatal(batch):
    for student in ("latin1_names", "latin1"):
        shown = MarkdownIt().render((batch["out"] / student / "feedback.md").read_text())
        assert "labs/01/tests/caf\\xe9.py: skipped, the name is not UTF-8" in shown, student


def test_a_folder_nested_1100_deep_is_cut_and_said(batch):
    feedback = (batch["out"] / "deep" / "feedback.md").read_text()
    assert "skipped, folders nested deeper than 40" in feedback


def test_a_code_fence_in_a_failure_message_stays_inside_its_block(batch):
    text = (batch["out"] / "code_fence" / "feedback.md").read_text()
    tokens = MarkdownIt().parse(text)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not any("Full marks" in h for h in headings), headings
    blocks = [t.content for t in tokens if t.type == "fence"]
    assert any("# Full marks, says the grader" in b and "really" in b for b in blocks)


def test_html_in_a_file_name_is_escaped_in_the_summary(batch):
    page = (batch["out"] / "summary.html").read_text()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.py" in page


def test_a_run_s_output_is_cut_in_the_log_not_in_the_score(batch):
    log = batch["out"] / "_logs" / "loud_failure" / "lab_01.log"
    assert log.stat().st_size < 150_000  # of the 100 MB pytest printed
    text = log.read_text()
    assert re.search(r"\[grader: \d+ bytes of output cut here\]", text)
    assert "FAILED labs/01/tests/check_calc.py::test_add_small" in text  # pytest's summary is kept
