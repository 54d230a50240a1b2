"""Reading a submission without trusting it: archives, links, paths that escape, sizes."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest

from grader.grading import submission
from grader.grading.submission import SubmissionError, discover, open_submission, student_id

NAMES = {"calc.py"}


def _tar(path, entries):
    with tarfile.open(path, "w:gz") as archive:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def test_a_clone_folder_gives_its_editable_and_protected_files(tmp_path):
    clone = tmp_path / "ada"
    (clone / "labs" / "01" / "tests").mkdir(parents=True)
    (clone / "labs" / "01" / "calc.py").write_text("mine")
    (clone / "labs" / "01" / "tests" / "check_calc.py").write_text("def test(): assert True")
    (clone / "labs" / "01" / "notes.txt").write_text("not read")
    (clone / ".venv" / "labs" / "01").mkdir(parents=True)
    (clone / ".venv" / "labs" / "01" / "calc.py").write_text("a venv is never looked into")
    sub = open_submission(clone, NAMES)
    assert sub.editable("01", "calc.py") == b"mine"
    assert sorted(sub.files) == ["labs/01/calc.py", "labs/01/tests/check_calc.py"]
    pristine = {"labs/01/tests/check_calc.py": b"the grader's"}
    assert sub.protected_edits(pristine.get) == [("labs/01/tests/check_calc.py", "modified")]


def test_a_symbolic_link_in_a_folder_is_never_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the instructor's file")
    clone = tmp_path / "ada"
    (clone / "labs" / "01").mkdir(parents=True)
    os.symlink(secret, clone / "labs" / "01" / "calc.py")
    sub = open_submission(clone, NAMES)
    assert sub.editable("01", "calc.py") is None
    assert sub.problems == ["labs/01/calc.py: skipped, a symbolic link"]


def test_a_zip_with_a_top_folder_is_found_by_its_labs_folder(tmp_path):
    path = tmp_path / "ada.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ada-main/labs/01/calc.py", "mine")
        archive.writestr("ada-main/README.md", "x")
    sub = open_submission(path, NAMES)
    assert sub.id == "ada" and sub.editable("01", "calc.py") == b"mine"


def test_zip_entries_that_escape_or_are_too_big_are_skipped_and_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(submission, "FILE_LIMIT", 100)
    path = tmp_path / "ada.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("../labs/01/calc.py", "escape")
        archive.writestr("/labs/01/calc.py", "absolute")
        archive.writestr("labs/02/calc.py", "x" * 10_000)  # compresses to a few bytes
    sub = open_submission(path, NAMES)
    assert sub.files == {}
    assert "'../labs/01/calc.py': skipped, path escapes the submission" in sub.problems
    assert "'/labs/01/calc.py': skipped, path escapes the submission" in sub.problems
    assert "labs/02/calc.py: skipped, larger than 100 bytes" in sub.problems


def test_a_tar_gz_refuses_links_and_escaping_paths(tmp_path):
    path = tmp_path / "bob.tar.gz"
    _tar(path, [("bob/labs/01/calc.py", b"mine", "file"),
                ("bob/labs/02/calc.py", "/etc/shadow", "link"),
                ("../../etc/cron.d/x", b"evil", "file")])  # fmt: skip
    sub = open_submission(path, NAMES)
    assert sub.files == {"labs/01/calc.py": b"mine"}
    assert sub.problems == [
        "bob/labs/02/calc.py: skipped, a link",
        "'../../etc/cron.d/x': skipped, path escapes the submission",
    ]


def test_a_flat_upload_is_matched_by_file_name(tmp_path):
    (tmp_path / "cy").mkdir()
    (tmp_path / "cy" / "calc.py").write_text("mine")
    sub = open_submission(tmp_path / "cy", NAMES)
    assert sub.flat and sub.editable("01", "calc.py") == b"mine"


def test_what_is_not_a_submission_is_refused_clearly(tmp_path):
    (tmp_path / "broken.zip").write_text("not a zip")
    with pytest.raises(SubmissionError, match="not a readable zip file"):
        open_submission(tmp_path / "broken.zip", NAMES)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "dan").mkdir()
    assert [p.name for p in discover(tmp_path)] == ["broken.zip", "dan"]
    assert student_id(tmp_path / "broken.zip") == "broken"
