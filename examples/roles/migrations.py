"""Migrations of the roles table: ``python -m sanic_ms migrate examples.roles``."""

from examples.roles.models import Roles
from sanic_ms.migrations import MigrationModel, info, migrate


class RoleMigration(MigrationModel):
    _model = Roles

    # The service already rejects an empty name; the database now refuses one from anywhere.
    @info(version="v1", author="sanic-ms workshop", datetime="2025-01-15")
    def migrate_v1(self):
        migrate(self.add_check("roles_name_not_blank", "name <> ''"))
