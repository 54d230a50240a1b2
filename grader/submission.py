"""Read one student's submission (a folder, ``.zip`` or ``.tar.gz``) without trusting it.

Nothing is extracted to disk. Only the files that matter are read into memory: the files a lab
lets the student edit, and the files a student must not change (tests, ``conftest.py``, the
manifest, the grader, pytest's configuration) so that edits to them can be reported. Entries with
absolute paths, ``..``, links or special files are skipped (and reported); sizes and counts are
capped, so a zip bomb is refused after reading at most ``FILE_LIMIT`` bytes of one member.

A clone packed with a top folder (``alice-labs/labs/01/db.py``) is found by its ``labs/`` folder.
An upload without any ``labs/`` folder (just ``db.py``) is matched by file name.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

FILE_LIMIT = 2 * 1024 * 1024  # bytes per file read
TOTAL_LIMIT = 64 * 1024 * 1024  # bytes read per submission
ENTRY_LIMIT = 50_000  # entries looked at per submission
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
IGNORED_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".pgdata", ".pytest_cache"}
CONFIG_FILES = {"pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini", "labs/manifest.toml"}


class SubmissionError(ValueError):
    """A submission that cannot be read at all (not an archive, corrupt, too big)."""


def student_id(entry: Path) -> str:
    name = entry.name
    for suffix in ARCHIVE_SUFFIXES:
        if entry.is_file() and name.endswith(suffix):
            name = name[: -len(suffix)]
    return re.sub(r"[^\w.@-]", "_", name).strip(".") or "student"


def is_protected(rel: str) -> bool:
    """Files a student's copy of must never be used: tests, conftest, config, manifest, grader."""
    parts = rel.split("/")
    return (
        rel in CONFIG_FILES
        or parts[-1] == "conftest.py"
        or parts[0] == "grader"
        or (len(parts) >= 3 and parts[0] == "labs" and parts[2] == "tests")
    )


def _clean(name: str) -> str | None:
    """A safe relative POSIX path, or None for absolute paths, ``..`` and other oddities."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or any("\0" in p for p in parts):
        return None
    return "/".join(parts)


def _wanted(rel: str, editable_names: set[str]) -> bool:
    parts = rel.split("/")
    if any(p in IGNORED_DIRS for p in parts[:-1]) or rel.endswith(".pyc"):
        return False
    return is_protected(rel) or parts[-1] in editable_names


@dataclass
class Submission:
    id: str
    source: Path
    files: dict[str, bytes] = field(default_factory=dict)  # relative to the clone's root
    problems: list[str] = field(default_factory=list)  # what was skipped or refused, for feedback
    flat: bool = False  # no labs/ folder: editable files are matched by name

    def editable(self, lab_id: str, rel: str) -> bytes | None:
        """The student's version of ``labs/<lab_id>/<rel>``, or None when it is not there."""
        found = self.files.get(f"labs/{lab_id}/{rel}")
        if found is None and self.flat:
            name = rel.rsplit("/", 1)[-1]
            matches = [k for k in self.files if k.rsplit("/", 1)[-1] == name]
            if len(matches) == 1:
                found = self.files[matches[0]]
        return found

    def protected_edits(self, pristine_read) -> list[tuple[str, str]]:
        """``(path, "modified" | "added")`` per protected file that differs from the grader's."""
        edits = []
        for rel, data in sorted(self.files.items()):
            if not is_protected(rel):
                continue
            original = pristine_read(rel)
            if original is None:
                edits.append((rel, "added"))
            elif original != data:
                edits.append((rel, "modified"))
        return edits


def _root_prefix(names: list[str]) -> str:
    """The folder inside an archive that holds the clone (the one with ``labs/``), or ''."""
    best = None
    for name in names:
        parts = name.split("/")
        if "labs" in parts[:-1]:
            prefix = "/".join(parts[: parts.index("labs")])
            if best is None or len(prefix) < len(best):
                best = prefix
    return f"{best}/" if best else ""


class _Budget:
    def __init__(self, submission: Submission) -> None:
        self.total = 0
        self.submission = submission

    def take(self, rel: str, size: int) -> bool:
        if size > FILE_LIMIT:
            self.submission.problems.append(f"{rel}: skipped, larger than {FILE_LIMIT} bytes")
            return False
        if self.total + size > TOTAL_LIMIT:
            self.submission.problems.append(f"{rel}: skipped, submission over {TOTAL_LIMIT} bytes")
            return False
        self.total += size
        return True


def _read_capped(stream, rel: str, submission: Submission) -> bytes | None:
    data = stream.read(FILE_LIMIT + 1)
    if len(data) > FILE_LIMIT:  # the header lied about the size (a zip bomb, say)
        submission.problems.append(f"{rel}: skipped, larger than {FILE_LIMIT} bytes")
        return None
    return data


def _from_zip(sub: Submission, editable_names: set[str]) -> None:
    try:
        archive = zipfile.ZipFile(sub.source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"not a readable zip file: {exc}") from exc
    with archive:
        infos = archive.infolist()[:ENTRY_LIMIT]
        clean = {}
        for info in infos:
            rel = _clean(info.filename)
            if rel is None:
                sub.problems.append(f"{info.filename!r}: skipped, path escapes the submission")
                continue
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool stored no type
            if info.is_dir() or (kind and kind != stat.S_IFREG):
                if kind == stat.S_IFLNK:
                    sub.problems.append(f"{rel}: skipped, a symbolic link")
                continue
            clean[rel] = info
        prefix = _root_prefix(list(clean))
        sub.flat = not prefix and not any(n.startswith("labs/") for n in clean)
        budget = _Budget(sub)
        for name, info in clean.items():
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix) :]
            if not _wanted(rel, editable_names) or not budget.take(rel, info.file_size):
                continue
            try:
                with archive.open(info) as stream:
                    data = _read_capped(stream, rel, sub)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                sub.problems.append(f"{rel}: unreadable ({exc})")
                continue
            if data is not None:
                sub.files[rel] = data


def _from_tar(sub: Submission, editable_names: set[str]) -> None:
    try:
        archive = tarfile.open(sub.source, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise SubmissionError(f"not a readable tar archive: {exc}") from exc
    with archive:
        members = {}
        try:
            for count, member in enumerate(archive):
                if count >= ENTRY_LIMIT:
                    sub.problems.append(f"more than {ENTRY_LIMIT} entries: the rest was skipped")
                    break
                rel = _clean(member.name)
                if rel is None:
                    sub.problems.append(f"{member.name!r}: skipped, path escapes the submission")
                elif member.issym() or member.islnk():
                    sub.problems.append(f"{rel}: skipped, a link")
                elif member.isfile():
                    members[rel] = member
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SubmissionError(f"corrupt tar archive: {exc}") from exc
        prefix = _root_prefix(list(members))
        sub.flat = not prefix and not any(n.startswith("labs/") for n in members)
        budget = _Budget(sub)
        for name, member in members.items():
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix) :]
            if not _wanted(rel, editable_names) or not budget.take(rel, member.size):
                continue
            stream = archive.extractfile(member)
            if stream is not None:
                data = _read_capped(stream, rel, sub)
                if data is not None:
                    sub.files[rel] = data


def _from_folder(sub: Submission, editable_names: set[str]) -> None:
    root = sub.source
    budget = _Budget(sub)
    seen = 0
    has_labs = (root / "labs").is_dir() and not (root / "labs").is_symlink()
    sub.flat = not has_labs
    for folder, dirs, names in os.walk(root):  # os.walk never follows symlinked folders
        dirs[:] = [d for d in dirs if d not in IGNORED_DIRS]
        for name in names:
            seen += 1
            if seen > ENTRY_LIMIT:
                sub.problems.append(f"more than {ENTRY_LIMIT} files: the rest was skipped")
                return
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if not _wanted(rel, editable_names):
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                sub.problems.append(f"{rel}: skipped, a symbolic link")
                continue
            if not stat.S_ISREG(info.st_mode) or not budget.take(rel, info.st_size):
                continue
            # O_NOFOLLOW: the file cannot have been swapped for a link since the lstat above.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as stream:
                data = _read_capped(stream, rel, sub)
            if data is not None:
                sub.files[rel] = data


def open_submission(entry: Path, editable_names: set[str]) -> Submission:
    """Read ``entry``; ``editable_names`` are the base names of every lab's editable files."""
    sub = Submission(student_id(entry), entry)
    if entry.is_symlink():
        raise SubmissionError("a symbolic link, not a folder or an archive")
    if entry.is_dir():
        _from_folder(sub, editable_names)
    elif entry.name.endswith(".zip"):
        _from_zip(sub, editable_names)
    elif entry.name.endswith((".tar.gz", ".tgz")):
        _from_tar(sub, editable_names)
    else:
        raise SubmissionError("neither a folder nor a .zip / .tar.gz")
    return sub


def discover(folder: Path) -> list[Path]:
    """The submissions in ``folder``: its sub-folders and archives, by name."""
    return sorted(
        entry
        for entry in folder.iterdir()
        if not entry.name.startswith(".")
        and (entry.is_dir() or entry.name.endswith(ARCHIVE_SUFFIXES))
    )
