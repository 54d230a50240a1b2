"""What the migrations tests share: ``dsn``, the session database seen through a schema of the
test's own (so tests creating tables of the same names never meet)."""

import pytest


@pytest.fixture
def dsn(schema_dsn):
    return schema_dsn
