"""The run's own queues on RabbitMQ, when its workers are a fleet (``CHAOS_QUEUE_URL``):
named by a prefix of the run's own, and deleted when it ends."""

from __future__ import annotations

from dataclasses import dataclass

import pika
import pika.exceptions

NAMES = ("messages", "work")  # jobs.queue: <prefix>.messages, <prefix>.work
SUFFIXES = ("", ".DQ", ".XQ")  # Dramatiq's delay and dead-letter queues beside each


@dataclass(frozen=True, slots=True)
class Queues:
    url: str  # empty: no queue
    prefix: str

    def delete(self) -> None:
        if not self.url:
            return
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
        except pika.exceptions.AMQPError:
            return  # the broker is gone: nothing to delete from it
        try:
            channel = connection.channel()
            for name in NAMES:
                for suffix in SUFFIXES:
                    channel.queue_delete(f"{self.prefix}.{name}{suffix}")
        finally:
            connection.close()
