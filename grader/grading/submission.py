"""Read one student's submission (a folder, ``.zip`` or ``.tar.gz``) without trusting it.

Nothing is extracted to disk. Only the files that matter are read into memory: the files a lab
lets the student edit, and the files a student must not change (tests, ``conftest.py``, the
manifest, the grader, pytest's configuration) so that edits to them can be reported. Entries with
absolute paths, ``..``, links or special files are skipped (and reported); sizes and counts are
capped, so a zip bomb is refused after reading at most ``FILE_LIMIT`` bytes of one member.

A clone packed with a top folder (``alice-labs/labs/01/db.py``) is found by its ``labs/`` folder.
An upload without any ``labs/`` folder (just ``db.py``) is matched by file name.

Whatever a submission holds, reading it never raises anything but :class:`SubmissionError`, and
every name that reaches a report is printable UTF-8 (see :func:`shown`). Each entry gets a
student id once and for good (:func:`assign_ids`), remembered in ``<out>/.ids.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

FILE_LIMIT = 2 * 1024 * 1024  # bytes per file read
TOTAL_LIMIT = 64 * 1024 * 1024  # bytes read per submission
ENTRY_LIMIT = 50_000  # entries looked at per submission
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
IGNORED_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".pgdata", ".pytest_cache"}
CONFIG_FILES = {"pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini", "labs/manifest.toml"}
DEPTH_LIMIT = 40  # folders below a submission's root; a clone's deepest is a handful
ID_LIMIT = 64  # characters of a student id (a folder name, a gradebook cell)
# Names the grader writes in its output folder: no student may have one as an id. (Ids never start
# with "_" or "." either, so whatever internal name comes next is reserved too.)
RESERVED_IDS = {"gradebook.csv", "summary.html"}
IDS_FILE = ".ids.json"


class SubmissionError(ValueError):
    """A submission that cannot be read at all (not an archive, corrupt, too big)."""


def shown(text: str) -> str:
    """``text`` safe for any report: bytes that are not UTF-8 and control characters escaped."""
    text = os.fsencode(text).decode("utf-8", "backslashreplace") if _not_utf8(text) else text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogates: a file name's bytes that were not UTF-8
        return True
    return False


def student_id(entry: Path) -> str:
    """The id an entry asks for: its name without the archive suffix, in safe characters."""
    name = entry.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix) and not entry.is_dir():
            name = name[: -len(suffix)]
    name = re.sub(r"[^\w.@-]", "_", name, flags=re.ASCII).lstrip("._").rstrip(".")
    if len(name) > ID_LIMIT:  # a hash of the whole name keeps two long names apart
        name = f"{name[: ID_LIMIT - 9]}-{internal_id(entry)[:8]}"
    return name or "student"


def internal_id(entry: Path) -> str:
    """The grader's own name for an entry (its runs, its cache): nothing the student chose."""
    return hashlib.sha256(os.fsencode(entry.name)).hexdigest()[:16]


def assign_ids(entries: list[Path], out: Path) -> dict[Path, str]:
    """A unique id per entry, the same in every batch written to ``out``.

    An entry keeps the id it got the first time (``<out>/.ids.json``); a new entry gets the id its
    name asks for when no entry has it, else the first free ``<id>-N``, so ``alice/``,
    ``alice.zip`` and ``alice-2/`` are ``alice``, ``alice-3`` and ``alice-2`` today and tomorrow.
    """
    path = out / IDS_FILE
    try:
        known: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    taken = {v.lower() for v in known.values()} | RESERVED_IDS
    ids: dict[Path, str] = {}
    wanted = {entry: student_id(entry) for entry in entries}
    fresh = []
    for entry in entries:
        if entry.name in known:
            ids[entry] = known[entry.name]
        else:
            fresh.append(entry)
    later = []
    for entry in fresh:  # first come, first served: the plain id goes to the first in name order
        if wanted[entry].lower() in taken or any(
            wanted[entry].lower() == wanted[other].lower()
            for other in fresh
            if other.name < entry.name
        ):
            later.append(entry)
            continue
        ids[entry] = wanted[entry]
        taken.add(wanted[entry].lower())
    for entry in later:
        n = 2
        while f"{wanted[entry]}-{n}".lower() in taken:
            n += 1
        ids[entry] = f"{wanted[entry]}-{n}"
        taken.add(ids[entry].lower())
    known.update({entry.name: ids[entry] for entry in entries})
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    return ids


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
    if shown(name) != name:  # not UTF-8, or control characters: reported, never read
        return None
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or any("\0" in p for p in parts):
        return None
    return "/".join(parts)


def _why_skipped(name: str) -> str:
    if shown(name) != name:
        return f"{shown(name)}: skipped, the name is not UTF-8 or has control characters"
    return f"{name!r}: skipped, path escapes the submission"


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
    key: str = ""  # the grader's internal id (runs, cache): see internal_id

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


def _entries_to_read(
    sub: Submission, sizes: dict[str, int], editable_names: set[str]
) -> Iterator[tuple[str, str]]:
    """``(name, rel)`` of each archive entry to read, in order: below the archive's root folder (if
    it has one; else ``sub.flat`` says whether the files sit there without ``labs/``), a file the
    student may edit, and within the size budget. ``sizes``: each clean entry's size."""
    prefix = _root_prefix(list(sizes))
    sub.flat = not prefix and not any(n.startswith("labs/") for n in sizes)
    budget = _Budget(sub)
    for name, size in sizes.items():
        if not name.startswith(prefix):
            continue
        rel = name[len(prefix) :]
        if _wanted(rel, editable_names) and budget.take(rel, size):
            yield name, rel


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
                sub.problems.append(f"{_why_skipped(info.filename)}")
                continue
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool stored no type
            if info.is_dir() or (kind and kind != stat.S_IFREG):
                if kind == stat.S_IFLNK:
                    sub.problems.append(f"{rel}: skipped, a symbolic link")
                continue
            clean[rel] = info
        sizes = {name: info.file_size for name, info in clean.items()}
        for name, rel in _entries_to_read(sub, sizes, editable_names):
            try:
                with archive.open(clean[name]) as stream:
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
                    sub.problems.append(_why_skipped(member.name))
                elif member.issym() or member.islnk():
                    sub.problems.append(f"{rel}: skipped, a link")
                elif member.isfile():
                    members[rel] = member
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SubmissionError(f"corrupt tar archive: {exc}") from exc
        sizes = {name: member.size for name, member in members.items()}
        for name, rel in _entries_to_read(sub, sizes, editable_names):
            stream = archive.extractfile(members[name])
            if stream is not None:
                data = _read_capped(stream, rel, sub)
                if data is not None:
                    sub.files[rel] = data


def _walk(root: Path, sub: Submission) -> Iterator[str]:
    """The relative path of every entry below ``root``, without recursion or links."""
    stack = [("", 0)]
    while stack:
        rel_dir, depth = stack.pop()
        try:
            with os.scandir(root / rel_dir if rel_dir else root) as found:
                entries = sorted(found, key=lambda e: e.name)
        except OSError as exc:
            sub.problems.append(f"{shown(rel_dir) or '.'}: unreadable folder ({exc.strerror})")
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name in IGNORED_DIRS:
                    continue
                if depth + 1 >= DEPTH_LIMIT:
                    sub.problems.append(
                        f"{shown(rel)}: skipped, folders nested deeper than {DEPTH_LIMIT}"
                    )
                    continue
                stack.append((rel, depth + 1))
            else:
                yield rel


def _from_folder(sub: Submission, editable_names: set[str]) -> None:
    root = sub.source
    budget = _Budget(sub)
    seen = 0
    has_labs = (root / "labs").is_dir() and not (root / "labs").is_symlink()
    sub.flat = not has_labs
    for rel in _walk(root, sub):
        seen += 1
        if seen > ENTRY_LIMIT:
            sub.problems.append(f"more than {ENTRY_LIMIT} files: the rest was skipped")
            return
        if not _wanted(rel, editable_names):
            continue
        if shown(rel) != rel:
            sub.problems.append(_why_skipped(rel))
            continue
        path = root / rel
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


def open_submission(entry: Path, editable_names: set[str], sid: str | None = None) -> Submission:
    """Read ``entry``; ``editable_names`` are the base names of every lab's editable files.

    Raises :class:`SubmissionError` (with the reason) for anything that goes wrong: one
    submission's odd archive or folder must never stop a batch.
    """
    sub = Submission(sid or student_id(entry), entry)
    try:
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
    except SubmissionError:
        raise
    except UnicodeDecodeError as exc:  # zipfile: a name flagged UTF-8 that is not
        raise SubmissionError(
            f"a file name in the archive is not valid UTF-8 ({exc.reason})"
        ) from exc
    except Exception as exc:
        raise SubmissionError(
            f"could not be read: {shown(f'{type(exc).__name__}: {exc}')}"
        ) from exc
    sub.problems = [shown(p) for p in sub.problems]
    return sub


def discover(folder: Path) -> list[Path]:
    """The submissions in ``folder``: its sub-folders and archives, by name."""
    return sorted(
        entry
        for entry in folder.iterdir()
        if not entry.name.startswith(".")
        and (entry.is_dir() or entry.name.endswith(ARCHIVE_SUFFIXES))
    )
