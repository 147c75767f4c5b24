"""Kafka for riskstream: the topic catalogue, the order pipeline's client, bulk loading, a local broker.

* :mod:`.topics` -- topic names and partitions (``RISKSTREAM_TOPIC_*``), client and security
  settings, topic creation;
* :mod:`.pipeline` -- :class:`~riskstream.kafka.pipeline.OrderPublisher` and
  :class:`~riskstream.kafka.pipeline.DecisionReader`, for the order pipeline's own code;
* :mod:`.produce` -- JSONL files into the orders topic at full speed or a steady rate;
* :mod:`.local` -- a single-node Apache Kafka (KRaft) for development, the demo and tests.
"""
