"""The cities table, designed with peewee (queries use asyncpg)."""

from peewee import AutoField, CharField

from examples.base import BaseModel


class Cities(BaseModel):
    id = AutoField()
    name = CharField(max_length=128, unique=True, verbose_name="city name")

    class Meta:
        table_name = "cities"
