"""Which database backends tests run on: SQLite always, PostgreSQL when it is reachable.

CI sets GUONGSANG_REQUIRE_PG=1 so a missing PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import socket

import pytest

PG_ADMIN_DSN = os.environ.get("GUONGSANG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_reachable() -> bool:
    """Whether something listens on PostgreSQL's port."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def both_backends() -> pytest.MarkDecorator:
    """Parametrize a test's `backend` fixture over SQLite and PostgreSQL."""
    required = os.environ.get("GUONGSANG_REQUIRE_PG") == "1"
    skip = [] if required or pg_reachable() else [pytest.mark.skip(reason="PostgreSQL down")]
    return pytest.mark.parametrize(
        "backend", ["sqlite", pytest.param("postgresql", marks=skip)], indirect=True
    )


def postgresql_only() -> pytest.MarkDecorator:
    """Run a test's `backend` fixture on PostgreSQL alone (what several workers share)."""
    required = os.environ.get("GUONGSANG_REQUIRE_PG") == "1"
    skip = [] if required or pg_reachable() else [pytest.mark.skip(reason="PostgreSQL down")]
    return pytest.mark.parametrize(
        "backend", [pytest.param("postgresql", marks=skip)], indirect=True
    )
