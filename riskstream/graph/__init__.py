"""The entity graph: accounts linked through shared entities, and their clusters.

* :class:`ClusterIndex` - the incremental union-find on the hot path, with
  hubs that never merge and links that age out;
* :class:`LinkSpotter` - which account-entity links are new (the low-volume
  stream that feeds the one graph instance);
* :class:`Cluster`, :func:`describe`, :func:`analyse` - cluster records and
  their networkx analysis, off the hot path.

No streaming imports: the offline engine and the stream workers use the same classes.
"""

from .analysis import Cluster, analyse, describe, graph_of
from .index import Change, ClusterIndex, new_cluster_index
from .links import LINK_KINDS, LinkSpotter, entity_node, node_kind
from .members import Hub, cluster_id_of

__all__ = [
    "LINK_KINDS",
    "Change",
    "Cluster",
    "ClusterIndex",
    "Hub",
    "LinkSpotter",
    "analyse",
    "cluster_id_of",
    "describe",
    "entity_node",
    "graph_of",
    "new_cluster_index",
    "node_kind",
]
