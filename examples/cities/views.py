"""HTTP API of the cities service."""

from examples.lookup import lookup_blueprint

bp = lookup_blueprint("cities", "city")
