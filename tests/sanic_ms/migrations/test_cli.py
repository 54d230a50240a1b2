"""``python -m sanic_ms migrate``: applies, reports status, fails clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from sanic_ms.__main__ import main

REPO = Path(__file__).resolve().parents[3]

MIGRATIONS = textwrap.dedent(
    """
    import peewee
    from sanic_ms.migrations import MigrationModel, info, migrate


    class Notes(peewee.Model):
        text = peewee.TextField()
        topic = peewee.CharField(max_length=40, null=True)

        class Meta:
            table_name = "notes"


    class NoteMigration(MigrationModel):
        _model = Notes

        @info(version="v1", author="ada")
        def migrate_v1(self):
            migrate(self.add_index("topic"))

        @info(version="v2", author="bob")
        def migrate_v2(self):
            {v2}
    """
)


def module(tmp_path, v2="pass"):
    path = tmp_path / f"notes_{uuid.uuid4().hex[:6]}.py"
    path.write_text(MIGRATIONS.format(v2=v2))
    return str(path)


def test_migrate_applies_then_does_nothing(tmp_path, dsn, capsys):
    path = module(tmp_path)

    assert main(["migrate", path, "--dsn", dsn]) == 0
    first = capsys.readouterr().out
    assert main(["migrate", path, "--dsn", dsn]) == 0
    second = capsys.readouterr().out

    assert "NoteMigration (notes): created table" in first
    assert "applied v1 by ada" in first and "applied v2 by bob" in first
    assert "2 version(s) applied" in first
    assert "up to date" in second and "0 version(s) applied" in second


def test_status_lists_applied_and_pending_per_model(tmp_path, dsn, capsys):
    failing = module(tmp_path, v2="raise RuntimeError('not yet')")

    assert main(["migrate", failing, "--status", "--dsn", dsn]) == 0
    before = capsys.readouterr().out
    assert main(["migrate", failing, "--dsn", dsn]) == 1
    capsys.readouterr()
    assert main(["migrate", failing, "--status", "--json", "--dsn", dsn]) == 0
    after = json.loads(capsys.readouterr().out)

    assert "notes, table absent" in before
    assert "pending  v1" in before and "pending  v2" in before
    assert [row["version"] for row in after[0]["applied"]] == ["v1"]
    assert after[0]["applied"][0]["author"] == "ada"
    assert after[0]["pending"] == ["v2"]


def test_a_failing_migration_exits_1_and_names_it(tmp_path, dsn, capsys):
    path = module(tmp_path, v2="raise RuntimeError('disk on fire')")

    assert main(["migrate", path, "--dsn", dsn]) == 1

    out, err = capsys.readouterr()
    assert "applied v1 by ada" in out  # what did succeed is still reported
    assert "NoteMigration v2 (migrate_v2) failed and was rolled back" in err
    assert "disk on fire" in err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_here", "cannot import 'no_such_module_here'"),
        ("missing/file.py", "no such file"),
        ("json", "no MigrationModel subclasses defined in json"),
    ],
)
def test_a_bad_module_exits_2_with_a_clear_error(target, message, capsys):
    assert main(["migrate", target]) == 2
    assert message in capsys.readouterr().err


def test_without_dsn_or_database_url_exits_2_saying_to_set_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    assert main(["migrate", module(tmp_path)]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err


def test_a_subcommand_is_required(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_python_dash_m_runs_the_example_services_migrations(dsn):
    """The real entry point, as `make demo` calls it: a process, DATABASE_URL, package names."""
    env = {**os.environ, "DATABASE_URL": dsn}
    command = [sys.executable, "-m", "sanic_ms", "migrate", "examples.users", "examples.cities"]

    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "UserMigration (users): created table" in done.stdout
    assert "CityMigration (cities): created table" in done.stdout
    assert "applied v2" in done.stdout
