"""Fixtures every integration test module may ask for by name (their code is in tests/helpers)."""

from tests.helpers.http import http  # noqa: F401  (a fixture: registered by being imported here)
from tests.helpers.ledger import store  # noqa: F401  (likewise)
