"""HTTP API of the cities service."""

from examples.lookup import lookup_blueprint

from .models import Cities

bp = lookup_blueprint("cities", "city", Cities)
