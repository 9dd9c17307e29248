"""Connected components of verified pairs: the clusters of the near-duplicate pass (and of any pair list)."""

from __future__ import annotations

import numpy as np


def union_find_clusters(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the pairs (a[k], b[k]): (members sorted, cluster id of each).

    Cluster ids are 0, 1, ... in order of each cluster's smallest member, so they depend only on the set
    of pairs (not on their order).

    >>> union_find_clusters(np.array([5, 1, 7]), np.array([9, 5, 8]))
    (array([1, 5, 7, 8, 9]), array([0, 0, 1, 1, 0]))
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:           # path compression
            parent[x], x = root, parent[x]
        return root

    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            lo, hi = (rx, ry) if rx < ry else (ry, rx)
            parent[hi] = lo                       # the smaller index is always the root
    members = np.unique(np.concatenate((a, b))) if len(a) else np.zeros(0, np.int64)
    roots = np.array([find(int(m)) for m in members], dtype=np.int64)
    _, cid = np.unique(roots, return_inverse=True)   # roots are cluster minima, so this ranks by first member
    return members, cid.astype(np.int64)
