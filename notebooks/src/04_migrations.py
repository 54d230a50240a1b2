# %% [markdown]
# # Lab 04: migrations
#
# The services query PostgreSQL with plain SQL (asyncpg); **peewee models** describe the tables.
# A table changes over the life of a service (a new column, an index), and every database (yours,
# CI's, production) must go through the same changes, once each, in order. That is what
# `sanic_ms.migrations` does, and what you rebuild in lab 04:
#
# - a `MigrationModel` subclass names one model and holds its versions, methods decorated with
#   `@info(version=..., author=..., datetime=...)`;
# - `auto_migrate()` creates the table if it is absent, then runs every version not yet recorded in
#   the `migrate_record` table, in natural order (v2 before v10);
# - each version runs in **one transaction** with its record row: it happens completely, or not at
#   all, and is never applied twice.
#
# This notebook migrates a fresh database of its own with **your** `labs/04/model.py`
# (plugged into the framework the way the lab's tests do it; while it is unfinished, the first
# cell says so and the reference runs instead), draws the status before and after, writes a new
# migration, and watches a broken one roll back.

# %%
from grader import notebook as nb
from sanic_ms.migrations import connect

nb.setup()  # cells are rerun: apps of the same name are allowed again


async def works(modules):
    """Your migrations, tried once: natural order, and the cities table migrated from nothing."""
    m = modules["model.py"]
    assert m.natural_key("v2") < m.natural_key("v10"), "natural_key: v2 must sort before v10"
    from examples.cities.migrations import CityMigration

    scratch = connect(await nb.database("nb04"))
    try:
        report = CityMigration(scratch).auto_migrate()
        assert report.created and report.applied, "auto_migrate applied nothing to an empty database"
    finally:
        scratch.close()


code = await nb.student_code("04", "model.py", check=works)
display(code)

from sanic_ms import migrations
from examples.cities.migrations import CityMigration
from examples.roles.migrations import RoleMigration
from examples.users.migrations import UserMigration

dsn = await nb.database("nb04")  # empty: no tables at all
database = migrations.connect(dsn)
SERVICES = [CityMigration, RoleMigration, UserMigration]
before = migrations.status(SERVICES, database)
for model in before:
    print("\n".join(model.lines()))

# %% [markdown]
# ## 1. `auto_migrate()`
#
# One call per migration class. The first run creates each table from its model and applies
# every version. Notes say when a helper found its work already done: the table was created from
# the model as it is *today*, so the `sex` column users' v1 adds is already there.

# %%
for cls in SERVICES:
    report = cls(database).auto_migrate()
    print("\n".join(report.lines()))
after = migrations.status(SERVICES, database)

# %% [markdown]
# ## 2. Before and after
#
# Each row is one migration class; green versions are applied (recorded in `migrate_record`),
# orange ones pending.

# %%
import matplotlib.pyplot as plt


def status_table(ax, statuses, title):
    rows, colors = [], []
    for s in statuses:
        applied = ", ".join(r.version for r in s.applied) or "-"
        pending = ", ".join(s.pending) or "-"
        rows.append([s.name, s.table, "yes" if s.table_exists else "no", applied, pending])
        colors.append(["white", "white", "#c8e6c9" if s.table_exists else "#ffe0b2",
                       "#c8e6c9" if s.applied else "white", "#ffe0b2" if s.pending else "white"])
    table = ax.table(cellText=rows, cellColours=colors, loc="center", cellLoc="left",
                     colLabels=["class", "table", "table exists", "applied", "pending"])
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1, 1.6)
    ax.set_title(title)
    ax.axis("off")


fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4))
status_table(top, before, "before auto_migrate()")
status_table(bottom, after, "after auto_migrate()")
fig.tight_layout()
plt.show()

# %% [markdown]
# Run it again: nothing is pending, so nothing happens. That is what makes it safe to call
# `auto_migrate()` every time a service starts.

# %%
print(migrations.apply(SERVICES, database))

# %% [markdown]
# ## 3. Your own migration
#
# Cities get a `country` column. A new version goes in a subclass (or in `CityMigration` itself);
# v1 is already recorded, so only v2 runs. The field is given explicitly because the model does
# not have it.

# %%
from peewee import CharField
from sanic_ms.migrations import info, migrate


class CityCountry(CityMigration):
    @info(version="v2", author="you", datetime="2025-02-01")
    def migrate_v2(self):
        migrate(self.add_column("country", CharField(max_length=64, null=True)))


print("pending:", migrations.status(CityCountry, database)[0].pending)
print("\n".join(CityCountry(database).auto_migrate().lines()))

# %% [markdown]
# ## 4. A migration that fails is rolled back
#
# A city first, so there is something to update. v3 sets every city's country, then runs a
# statement that fails. Both run in one transaction, so the
# update is undone, and v3 is not recorded: it stays pending, to run again once it is fixed.

# %%
class BrokenCountry(CityCountry):
    @info(version="v3", author="you", datetime="2025-02-02")
    def migrate_v3(self):
        migrate(self.sql("UPDATE cities SET country = 'Portugal'"), self.sql("SELECT 1 / 0"))


database.execute_sql("INSERT INTO cities (name) VALUES ('Lisbon')")
try:
    BrokenCountry(database).auto_migrate()
except migrations.MigrationError as exc:
    print("MigrationError:", exc)
print("countries:", database.execute_sql("SELECT DISTINCT country FROM cities").fetchall())
print("still pending:", migrations.status(BrokenCountry, database)[0].pending)
closed = database.close()

# %% [markdown]
# ## 5. The services run on the migrated database

# %%
import asyncpg

conn = await asyncpg.connect(dsn)
await conn.execute("INSERT INTO roles (name) VALUES ('admin')")
await conn.execute("INSERT INTO users (name, age, city_id, role_id) VALUES ('Ada', 36, 1, 1)")
await conn.close()
services = await nb.examples(dsn)
await nb.show("GET", services["users"] + "/users/1")

# %% [markdown]
# ## Your turn
#
# Open `labs/04/README.md` and finish the marked parts of the migrations module in `labs/04/`.
# The cell below runs `pytest labs/04` and shows which tasks pass.

# %%
progress = await nb.lab("04")

# %% [markdown]
# ## Clean up

# %%
await nb.cleanup()
