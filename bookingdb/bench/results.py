"""What a scenario reports: metrics against targets, correctness checks, and
the throughput/latency series the chart draws."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latency:
    """Per-operation latency in milliseconds."""

    p50_ms: float | None
    p99_ms: float | None
    samples: int

    @classmethod
    def from_us(cls, values_us: Sequence[float]) -> Latency:
        p50 = percentile(values_us, 50)
        p99 = percentile(values_us, 99)
        return cls(
            p50_ms=None if p50 is None else p50 / 1000.0,
            p99_ms=None if p99 is None else p99 / 1000.0,
            samples=len(values_us),
        )


@dataclass(frozen=True)
class Metric:
    """One reported figure. ``reference`` is the same measurement of the
    reference design in the same run; ``target`` the goal from issue 3 and
    ``met`` whether this run reached it (None: no target, or not measured)."""

    name: str
    value: float | None
    unit: str
    reference: float | None = None
    reference_label: str | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None


@dataclass(frozen=True)
class Check:
    """A correctness check. A failed check makes ``bookingdb bench`` exit non-zero.
    ``reference`` is the same count for the reference design (whose double
    bookings are the point, so it never fails a run)."""

    name: str
    value: int
    passed: bool
    reference: int | None = None
    reference_label: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Series:
    """A throughput and its latency, as the chart draws them."""

    label: str
    per_second: float | None
    unit: str
    latency: Latency
    reference: bool = False


@dataclass
class ScenarioResult:
    id: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def correct(self) -> bool:
        return all(check.passed for check in self.checks)

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["correct"] = self.correct
        return data


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def at_least(value: float | None, goal: float) -> bool | None:
    return None if value is None else value >= goal


def at_most(value: float | None, goal: float) -> bool | None:
    return None if value is None else value <= goal
