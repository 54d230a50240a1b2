"""Migrations of the users table: ``python -m sanic_ms migrate examples.users``."""

from examples.users.models import Users
from sanic_ms.migrations import MigrationModel, info, migrate


class UserMigration(MigrationModel):
    _model = Users

    # The seed's first migration: sex was added to the model after the table existed. On a fresh
    # database the table already has it and the helper notes that instead of failing.
    @info(version="v1", author="songcser", datetime="2018-01-10")
    def migrate_v1(self):
        migrate(self.add_column("sex"))

    # GET /users?city_id= and the joins the services do by hand read these columns.
    @info(version="v2", author="sanic-ms workshop", datetime="2025-01-15")
    def migrate_v2(self):
        migrate(self.add_index("city_id"), self.add_index("role_id"))
