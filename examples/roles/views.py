"""HTTP API of the roles service."""

from examples.lookup import lookup_blueprint

bp = lookup_blueprint("roles", "role")
