"""Prometheus metrics, in a registry of the gateway's own (no import-time globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class _Gauges(Collector):
    """Gauges computed when scraped, e.g. the outbox depth from the database."""

    def __init__(self, source: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        for name, (doc, value) in self.source().items():
            family = GaugeMetricFamily(name, doc)
            family.add_metric([], value)
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "digestbot_commands",
            "Commands answered",
            ["platform", "command"],
            registry=self.registry,
        )
        self.ingests = Counter(
            "digestbot_ingests", "Reports ingested", ["status"], registry=self.registry
        )
        self.sent = Counter(
            "digestbot_messages_sent",
            "Messages sent",
            ["platform", "purpose"],
            registry=self.registry,
        )
        self.paid = Counter(
            "digestbot_paid_messages",
            "Messages sent on a platform's paid path (Telegram paid broadcasts: Stars each past "
            "the free rate)",
            ["platform"],
            registry=self.registry,
        )
        self.send_failures = Counter(
            "digestbot_send_failures",
            "Failed send attempts",
            ["platform", "reason"],
            registry=self.registry,
        )

    def add_gauges(self, source: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.registry.register(_Gauges(source))

    def render(self) -> bytes:
        return generate_latest(self.registry)
