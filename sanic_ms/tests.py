"""The 2018 import path of the test base: ``from sanic_ms.tests import APITestCase``."""

from .testing.fakes import MockServices
from .testing.unittest import APITestCase

__all__ = ["APITestCase", "MockServices"]
