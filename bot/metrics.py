"""Prometheus metrics, one registry per app (so tests and workers never share global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    """The counters and histograms the service exports at `/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter("yichuang_turns_total", "Messages processed", ["channel", "flow"],
                             registry=self.registry)
        self.duplicates = Counter("yichuang_duplicate_messages_total", "Retried messages answered from cache",
                                  ["channel"], registry=self.registry)
        self.turn_seconds = Histogram("yichuang_turn_seconds", "Time to process one message",
                                      buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
                                      registry=self.registry)
        self.http_requests = Counter("yichuang_http_requests_total", "HTTP requests", ["route", "status"],
                                     registry=self.registry)
