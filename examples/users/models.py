"""The users table, designed with peewee (queries use asyncpg)."""

import datetime

from peewee import SQL, AutoField, CharField, DateTimeField, IntegerField

from examples.base import BaseModel


class Users(BaseModel):
    id = AutoField()
    create_time = DateTimeField(
        verbose_name="create time",
        default=datetime.datetime.utcnow,
        constraints=[SQL("DEFAULT CURRENT_TIMESTAMP")],
    )
    name = CharField(max_length=128, verbose_name="user's name")
    age = IntegerField(null=False, verbose_name="user's age")
    sex = CharField(max_length=32, null=True, verbose_name="user's sex")
    city_id = IntegerField(verbose_name="city for user", help_text="cities: GET /cities/{id}")
    role_id = IntegerField(verbose_name="role for user", help_text="roles: GET /roles/{id}")

    class Meta:
        table_name = "users"
