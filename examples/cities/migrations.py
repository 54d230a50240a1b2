"""Migrations of the cities table: ``python -m sanic_ms migrate examples.cities``."""

from examples.cities.models import Cities
from sanic_ms.migrations import MigrationModel, info, migrate


class CityMigration(MigrationModel):
    _model = Cities

    # The service already rejects an empty name; the database now refuses one from anywhere.
    @info(version="v1", author="sanic-ms workshop", datetime="2025-01-15")
    def migrate_v1(self):
        migrate(self.add_check("cities_name_not_blank", "name <> ''"))
