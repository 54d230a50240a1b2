"""Versioned schema migrations for peewee models: ordered, transactional, recorded, run once.

peewee describes the tables; queries stay on asyncpg. A migration class (``MigrationModel``)
names one model and holds its versions, one ``@info(version=...)`` method each: ``model.py``
shows one.

``auto_migrate()`` creates the model's table if it is absent, then runs every version not yet
recorded in ``migrate_record``, in natural order (v2 before v10). Each version runs in one
transaction together with its record row, so a failure leaves neither. The whole run holds a
PostgreSQL advisory lock, so two runners started at once apply each version exactly once.

The table is created from the model as it is *now*, so on a fresh database the model already has
what older migrations add. The helpers therefore converge: adding a column or an index that is
already there, or dropping one that is gone, is skipped and noted in the report rather than
failing. A version still runs (and is recorded) on a fresh database, so data migrations run too.

Columns whose model default is a Python callable for a timestamp or an id (``datetime.now``,
``datetime.utcnow``, ``date.today``, ``uuid4``) get the SQL equivalent as their DEFAULT, so a raw
``INSERT`` that leaves them out works as it does through peewee (see :func:`sql_default`).

The database comes from the argument (a DSN or a peewee database) or ``DATABASE_URL``; which
PostgreSQL to use on a laptop is the development tooling's choice, not this package's.

Modules: ``model`` (``MigrationModel``, ``@info``, one model's run), ``operations`` (the helpers),
``records`` (``migrate_record`` and the lock), ``catalog``, ``schema`` (DDL and SQL defaults),
``database`` (``connect``, ``db``), ``report``, ``runner`` (``discover``, ``apply``, ``status``),
``cli`` (``python -m sanic_ms migrate``).
"""

from playhouse.migrate import migrate

from .database import connect, db
from .errors import MigrationDefinitionError, MigrationError
from .model import Info, Migration, MigrationModel, info, natural_key
from .records import LOCK_KEY, RECORD_TABLE, Record
from .report import Applied, ModelReport, ModelStatus, Report
from .runner import apply, discover, status
from .schema import create_table_sql, sql_default, sql_defaults

__all__ = [
    "LOCK_KEY",
    "RECORD_TABLE",
    "Applied",
    "Info",
    "Migration",
    "MigrationDefinitionError",
    "MigrationError",
    "MigrationModel",
    "ModelReport",
    "ModelStatus",
    "Record",
    "Report",
    "apply",
    "connect",
    "create_table_sql",
    "db",
    "discover",
    "info",
    "migrate",
    "natural_key",
    "sql_default",
    "sql_defaults",
    "status",
]
