"""Three example services built on sanic_ms: users calls cities and roles in parallel."""
