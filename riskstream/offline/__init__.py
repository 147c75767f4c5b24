"""The engine over history: replay, backtests and their reports, labelled metrics, cluster review.

* :mod:`.history` -- order history from JSONL or CSV files, decisions out;
* :mod:`.replay` -- ``riskstream replay``: every order through the engine, in order;
* :mod:`.backtest` -- ``riskstream backtest``: two rule sets on the same history;
* :mod:`.evidence`, :mod:`.tune`, :mod:`.rulewrite`, :mod:`.tune_report`, :mod:`.tuning` -- ``riskstream tune``:
  rule outcomes and thresholds calibrated on labelled history, written as a rules directory with a report;
* :mod:`.labels` -- precision, recall and PR-AUC against ground-truth labels;
* :mod:`.report` -- those reports as tables on a terminal;
* :mod:`.clusters` -- ``riskstream cluster``: clusters of linked accounts in a replay, and their pictures.

Given the same ordered input, replay decides exactly as the stream workers do.
"""
