"""The 2018 import path of the test base: ``from sanic_ms.tests import APITestCase``."""

from .testing import APITestCase, MockServices

__all__ = ["APITestCase", "MockServices"]
