"""Benchmarks: commands that print figures with their conditions (``riskstream bench ...``), never timed tests.

* :mod:`.replay` -- replay speed beside a bare JSON-parse loop; memory as the input grows;
* :mod:`.graph` -- replay with the graph on and off, the graph step, a hub stream;
* :mod:`.address` -- fuzzy address linking on labelled orders;
* :mod:`.model` -- model scoring cost by batch size;
* :mod:`.stream` -- a live worker's throughput and latency beside a bare pass-through (:mod:`.passthrough`);
* :mod:`.chaos` -- the kill test: SIGKILLed workers, nothing lost, nothing different from replay;
* :mod:`.profiling` -- where a live worker's time goes (py-spy);
* :mod:`.memory` -- process memory figures.
"""
