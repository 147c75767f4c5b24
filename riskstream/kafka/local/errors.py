"""Errors raised by the local Kafka launcher."""


class LocalKafkaError(RuntimeError):
    """The local broker could not be prepared, started, probed or stopped."""
