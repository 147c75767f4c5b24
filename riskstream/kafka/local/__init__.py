"""A local single-node Kafka broker (KRaft) for development, the demo and CI.

The broker jars come from Maven Central (resolved once into ``.cache/kafka``)
and run on the machine's JDK; see :class:`LocalKafka` and ``riskstream kafka``.
"""

from .errors import LocalKafkaError
from .jars import DEFAULT_KAFKA_VERSION
from .launcher import LocalKafka, find_root

__all__ = ["DEFAULT_KAFKA_VERSION", "LocalKafka", "LocalKafkaError", "find_root"]
