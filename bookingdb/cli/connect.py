"""How a command reaches the database."""

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg_pool import NullConnectionPool

from bookingdb.client import BookingDB
from bookingdb.config import resolve_dsn


@contextmanager
def open_db(dsn: str | None) -> Iterator[BookingDB]:
    """A client for one command: ``--dsn``, else the environment, else the embedded server.

    A command makes one or two calls, so it connects on demand, in this
    thread (a NullConnectionPool): a refused connection fails at once with
    its real reason, where a ConnectionPool would keep retrying in the
    background until its 30-second timeout.
    """
    target = resolve_dsn(dsn)
    pool: NullConnectionPool = NullConnectionPool(
        target, min_size=0, max_size=1, open=True, kwargs={"autocommit": True}
    )
    with BookingDB(pool, dsn=target) as db:
        yield db
