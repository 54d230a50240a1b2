"""HTTP API of the roles service."""

from examples.lookup import lookup_blueprint

from .models import Roles

bp = lookup_blueprint("roles", "role", Roles)
