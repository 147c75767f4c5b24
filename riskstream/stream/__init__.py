"""The online driver: the engine on Kafka, as Faust agents.

``stages`` holds the logic of each stage as plain Python; ``app`` is the
Faust wiring (topics, tables, agents) and nothing else.
"""
