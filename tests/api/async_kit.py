"""The asyncio client behind the blocking client's face, so that one test
runs through both.

:class:`Portal` is an event loop in a thread of its own; :class:`Blocking`
wraps an :class:`~bookingdb.AsyncBookingDB` (or a transaction handle) and
awaits each method in the portal, from whichever thread calls it. Async
generators (``watch``) become iterators, async context managers
(``booking_lock``) become context managers. The client itself runs as in an
asyncio application: every statement on the portal's loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import AsyncGenerator, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")


class Portal:
    """An event loop running in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (or exception)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


class Blocking:
    """An asyncio object with a blocking face: each coroutine method is awaited
    in the portal; other attributes pass through."""

    def __init__(self, target: Any, portal: Portal) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._blocking(value(*args, **kwargs))

        return call

    def _blocking(self, result: Any) -> Any:
        if inspect.iscoroutine(result):
            return self._portal.call(result)
        if inspect.isasyncgen(result):
            return _Feed(result, self._portal)
        if isinstance(result, AbstractAsyncContextManager):
            return _Block(result, self._portal)
        return result

    def __enter__(self) -> Blocking:
        self._portal.call(self._target.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._portal.call(self._target.__aexit__(exc_type, exc, tb))


class _Feed:
    """An async generator as an iterator (``next``, ``close``)."""

    def __init__(self, feed: AsyncGenerator[Any, None], portal: Portal) -> None:
        self._feed = feed
        self._portal = portal

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        async def step() -> tuple[bool, Any]:
            try:
                return True, await anext(self._feed)
            except StopAsyncIteration:
                return False, None

        more, item = self._portal.call(step())
        if not more:
            raise StopIteration
        return item

    def close(self) -> None:
        self._portal.call(self._feed.aclose())


class _Block:
    """An async context manager as a context manager; what it yields is wrapped
    in :class:`Blocking`."""

    def __init__(self, block: AbstractAsyncContextManager[Any], portal: Portal) -> None:
        self._block = block
        self._portal = portal

    def __enter__(self) -> Blocking:
        return Blocking(self._portal.call(self._block.__aenter__()), self._portal)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return self._portal.call(self._block.__aexit__(exc_type, exc, tb))
