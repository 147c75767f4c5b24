"""The stream stages as plain Python (no Faust): screen, entities, graph, decide.

Orders arrive keyed by account, but an IP's or an address's window needs every
order that touches it, whatever its account partition.  So the engine's one
``decide`` is cut where the data must move:

``screen`` (per ``orders`` partition)
    validates each event (bad ones become dead letters), builds the order's
    view and its *touches* - one per tracker key it counts in - and routes each
    touch to the ``risk-touches`` partition that owns the key, and the order's
    *plan* (the event and how many touches to wait for) to the ``risk-signals``
    partition that owns the order id.
``entities`` (per ``risk-touches`` partition)
    counts each touch in its sliding window and routes the resulting aggregate,
    a *signal*, to the order's ``risk-signals`` partition.
``graph`` (one instance, when the rules keep a graph)
    takes every order's new account-entity links from the screens, applies
    them in event-time order and sends each order its cluster (see
    :class:`GraphStage`).
``decide`` (per ``risk-signals`` partition)
    collects an order's plan, signals and cluster and, once complete, concludes it with
    the engine's policy: the same rules, the same record as offline.  With the
    anomaly model, the orders completed by one call are scored together (a
    micro-batch bounded by the agent's batch wait) before their rules run; the
    screen adds each order's account timing (the stateful feature, kept per
    account partition) to its plan.

What travels between them is in :mod:`.wire`.

Each stage is idempotent so at-least-once delivery gives exactly-once results:
the entities stage remembers which touch batches it has counted (a batch seen
again is answered from the window, not counted twice) and the decide stage
keeps each order's decision and publishes the same record again for a replayed
order.
"""

from ...engine.order_ids import OrderIds
from .decide import Decide
from .graph import GraphStage
from .screen import MAX_DEAD_BYTES, DeadLetter, Screen, ScreenOutput, reused_letters
from .touches import Entities, TouchLedger
from .wire import (
    MAX_MESSAGE,
    Signal,
    Touch,
    pack,
    pack_keyed,
    pack_progress,
    partition_of,
)

__all__ = [
    "MAX_DEAD_BYTES",
    "MAX_MESSAGE",
    "DeadLetter",
    "Decide",
    "Entities",
    "GraphStage",
    "OrderIds",
    "Screen",
    "ScreenOutput",
    "Signal",
    "Touch",
    "TouchLedger",
    "pack",
    "pack_keyed",
    "pack_progress",
    "partition_of",
    "reused_letters",
]
