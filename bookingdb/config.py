"""Where to connect, resolved in one place: the argument, then
``BOOKINGDB_DSN``, then ``DATABASE_URL``, then the embedded server."""

from __future__ import annotations

import os


def resolve_dsn(dsn: str | None = None) -> str:
    """Return the DSN to use, starting the embedded server if nothing is configured."""
    for candidate in (dsn, os.environ.get("BOOKINGDB_DSN"), os.environ.get("DATABASE_URL")):
        if candidate:
            return candidate
    from bookingdb import server

    return server.start()
