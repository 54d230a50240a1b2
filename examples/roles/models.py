"""The roles table, designed with peewee (queries use asyncpg)."""

from peewee import AutoField, CharField

from examples.base import BaseModel


class Roles(BaseModel):
    id = AutoField()
    name = CharField(max_length=128, unique=True, verbose_name="role name")

    class Meta:
        table_name = "roles"
