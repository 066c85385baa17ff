"""Skeleton topologies and the graphs built on them.

Each :class:`Skeleton` is a kinematic tree: joint names, a parent index per joint (-1 for the
root), left/right pairs for mirroring and a centre joint. From the tree we build the
spatial-partition adjacency of ST-GCN / 2s-AGCN (identity, normalised inward, normalised outward).

Sources
-------
- NTU RGB+D 25 joints: Shahroudy et al., CVPR 2016, Fig. 1 (joint numbering 1..25 there,
  0-based here).
- OpenPose-18 (Kinetics-skeleton): Yan et al., ST-GCN, AAAI 2018, the ``openpose`` layout.
- COCO-17: the MS-COCO keypoint order.
- Human3.6M-17: the 17-joint reduction used by VideoPose3D (Pavllo et al., CVPR 2019).
- DeepMimic humanoid: ``pybullet_data/humanoid/humanoid.urdf`` (Peng et al., SIGGRAPH 2018).
- Adjacency: Shi et al., 2s-AGCN, CVPR 2019, Eq. 3 and its ``normalize_digraph``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Skeleton", "tree_order", "NTU25", "OPENPOSE18", "COCO17", "H36M17", "DEEPMIMIC", "SKELETONS",
           "get_skeleton", "normalize_digraph", "spatial_adjacency"]


def tree_order(parents, what: str = "skeleton") -> tuple:
    """Breadth-first order of a kinematic tree's joints, root first (every parent before its children).

    ``parents[j]`` is the parent of joint ``j`` (negative for the root). Raises ``ValueError``,
    prefixed with ``what``, if there is not exactly one root, a parent index is out of range, or
    some joints are not reachable from the root (the parents do not form a tree).
    """
    parents = [int(p) for p in parents]
    V = len(parents)
    roots = [j for j, p in enumerate(parents) if p < 0]
    if len(roots) != 1:
        raise ValueError(f"{what}: expected one root, got {roots}")
    children = {j: [] for j in range(V)}
    for j, p in enumerate(parents):
        if p >= V:
            raise ValueError(f"{what}: parent {p} of joint {j} out of range")
        if p >= 0:
            children[p].append(j)
    order, frontier = [], [roots[0]]
    while frontier:
        j = frontier.pop(0)
        order.append(j)
        frontier.extend(children[j])
    if len(order) != V:
        missing = sorted(set(range(V)) - set(order))
        raise ValueError(f"{what}: joints {missing} are not reachable from the root (the parents do not form a tree)")
    return tuple(order)


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree of ``V`` joints.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``"ntu25"``.
    joint_names : tuple[str, ...]
        ``V`` names.
    parents : tuple[int, ...]
        Parent index of every joint, ``-1`` for the single root. Parents precede children.
    mirror_pairs : tuple[tuple[int, int], ...]
        (left, right) joint pairs swapped when the body is mirrored.
    center : int
        The joint used as the graph centre (ST-GCN's "gravity centre" is this fixed joint, not a
        computed centre of mass).
    graph_parents : tuple[int, ...] or None
        The tree of the *graph* (adjacency, hop distances, the bone stream), when it differs
        from the kinematic tree ``parents`` (used for forward kinematics and bone rigidity).
        Default: the kinematic tree.

    Raises
    ------
    ValueError
        If the tree is not valid (wrong lengths, several roots, a cycle or an unreachable joint).
    """

    name: str
    joint_names: tuple
    parents: tuple
    mirror_pairs: tuple = ()
    center: int = 0
    graph_parents: tuple | None = None
    _bones: tuple = field(init=False, repr=False, compare=False, default=())
    _graph_bones: tuple = field(init=False, repr=False, compare=False, default=())
    _order: tuple = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self):
        V = len(self.joint_names)
        if len(self.parents) != V:
            raise ValueError(f"{self.name}: {len(self.parents)} parents for {V} joints")
        object.__setattr__(self, "_order", tree_order(self.parents, self.name))
        for a, b in self.mirror_pairs:
            if not (0 <= a < V and 0 <= b < V):
                raise ValueError(f"{self.name}: mirror pair ({a}, {b}) out of range")
        object.__setattr__(self, "_bones", tuple((j, p) for j, p in enumerate(self.parents) if p >= 0))
        gp = self.parents if self.graph_parents is None else tuple(self.graph_parents)
        if len(gp) != V:
            raise ValueError(f"{self.name}: {len(gp)} graph parents for {V} joints")
        tree_order(gp, f"{self.name} (graph)")
        object.__setattr__(self, "graph_parents", gp)
        object.__setattr__(self, "_graph_bones", tuple((j, p) for j, p in enumerate(gp) if p >= 0))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def bones(self) -> tuple:
        """``V - 1`` (child, parent) pairs: the inward edges of the graph."""
        return self._bones

    @property
    def graph_bones(self) -> tuple:
        """``V - 1`` (child, parent) pairs of the graph tree (:attr:`graph_parents`)."""
        return self._graph_bones

    @property
    def order(self) -> tuple:
        """A topological order of the joints (every parent before its children)."""
        return self._order

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    def index(self, name: str) -> int:
        """Index of a joint by name (raises ``KeyError`` naming the skeleton)."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"{self.name}: no joint named {name!r}") from None

    def mirror_permutation(self) -> np.ndarray:
        """Permutation ``(V,)`` that swaps left and right joints."""
        perm = np.arange(self.num_joints)
        for a, b in self.mirror_pairs:
            perm[a], perm[b] = b, a
        return perm

    def hop_distance(self, source: int | None = None) -> np.ndarray:
        """Number of graph edges between every joint and ``source`` (default: :attr:`center`), ``(V,)``."""
        src = self.center if source is None else source
        nbrs = {j: [] for j in range(self.num_joints)}
        for a, b in self.graph_bones:
            nbrs[a].append(b)
            nbrs[b].append(a)
        dist = np.full(self.num_joints, -1)
        dist[src] = 0
        frontier = [src]
        while frontier:
            nxt = []
            for j in frontier:
                for k in nbrs[j]:
                    if dist[k] < 0:
                        dist[k] = dist[j] + 1
                        nxt.append(k)
            frontier = nxt
        return dist

    def inward_edges(self) -> tuple:
        """Graph edges oriented towards :attr:`center`: pairs ``(far, near)`` by hop distance."""
        d = self.hop_distance()
        return tuple((a, b) if d[a] > d[b] else (b, a) for a, b in self.graph_bones)

    def adjacency(self) -> np.ndarray:
        """Spatial-partition adjacency ``(3, V, V)``: identity, centripetal, centrifugal.

        Edges are oriented by hop distance to :attr:`center`, as in ST-GCN's spatial
        configuration partitioning. See :func:`spatial_adjacency`.
        """
        return spatial_adjacency(self.num_joints, self.inward_edges())


def normalize_digraph(A: np.ndarray) -> np.ndarray:
    """Column-normalise a directed adjacency: ``A @ D^-1`` with ``D_jj = sum_i A_ij``.

    Columns with no edges stay zero. Shape ``(V, V)`` in, ``(V, V)`` out.
    Source: 2s-AGCN (Shi et al., CVPR 2019), ``normalize_digraph``.
    """
    deg = A.sum(axis=0)
    inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1e-12), 0.0)
    return A * inv[None, :]


def spatial_adjacency(num_joints: int, inward: tuple) -> np.ndarray:
    """The three-subset spatial partition of ST-GCN / 2s-AGCN.

    Parameters
    ----------
    num_joints : int
        ``V``.
    inward : sequence of (far, near)
        Edges pointing towards the graph centre (``near`` is one hop closer to it).

    Returns
    -------
    np.ndarray, float32, shape ``(3, V, V)``
        ``[I, norm(A_in), norm(A_out)]``. Column ``w`` of a matrix lists the joints that joint
        ``w`` aggregates from (a layer computes ``x @ A``): ``A_in[near, far] = 1``, so each
        joint aggregates its centripetal neighbour (the one closer to the centre);
        ``A_out = A_in^T`` gathers the centrifugal neighbours. ``norm`` is
        :func:`normalize_digraph` applied **per partition** (a mean over each group), as
        2s-AGCN's ``get_spatial_graph`` does; ST-GCN instead normalises the whole neighbourhood
        (self, centripetal and centrifugal together) by its degree and then splits it into the
        partitions. Source: ST-GCN Sec. 3.6 (spatial configuration partitioning) and 2s-AGCN
        Eq. 3 (the ``A_k`` term).
    """
    V = num_joints
    A_in = np.zeros((V, V))
    for far, near in inward:
        A_in[near, far] = 1.0
    A_out = A_in.T.copy()
    return np.stack([np.eye(V), normalize_digraph(A_in), normalize_digraph(A_out)]).astype(np.float32)


# --- NTU RGB+D, 25 joints (Kinect v2) --------------------------------------------------------
_NTU_NAMES = (
    "spine_base", "spine_mid", "neck", "head",
    "shoulder_left", "elbow_left", "wrist_left", "hand_left",
    "shoulder_right", "elbow_right", "wrist_right", "hand_right",
    "hip_left", "knee_left", "ankle_left", "foot_left",
    "hip_right", "knee_right", "ankle_right", "foot_right",
    "spine_shoulder", "handtip_left", "thumb_left", "handtip_right", "thumb_right",
)
# Kinematic tree (Kinect v2's own joint hierarchy): hand tip and thumb are both children of the
# hand. Used for forward kinematics and rigid bones.
_NTU_PARENTS = (-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11)
# The graph of ST-GCN and 2s-AGCN (``ntu_rgb_d`` layout, 1-based edges 22-23, 23-8, 24-25, 25-12):
# the hand chain is tip -> thumb -> hand. Used for the adjacency, hop distances and bone stream.
_NTU_GRAPH_PARENTS = _NTU_PARENTS[:21] + (22, 7, 24, 11)
NTU25 = Skeleton(
    "ntu25", _NTU_NAMES, _NTU_PARENTS,
    mirror_pairs=((4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19),
                  (21, 23), (22, 24)),
    center=20,  # spine_shoulder: ST-GCN's centre joint for NTU (joint 21, 1-based)
    graph_parents=_NTU_GRAPH_PARENTS,
)

# --- OpenPose 18 (ST-GCN's Kinetics-skeleton) ------------------------------------------------
_OP_NAMES = ("nose", "neck", "shoulder_right", "elbow_right", "wrist_right", "shoulder_left",
             "elbow_left", "wrist_left", "hip_right", "knee_right", "ankle_right", "hip_left",
             "knee_left", "ankle_left", "eye_right", "eye_left", "ear_right", "ear_left")
# ST-GCN's edges (hips joined to the shoulders) form a tree; we root it at the neck.
_OP_EDGES = ((4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5),
             (8, 2), (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14))

# --- COCO 17 ----------------------------------------------------------------------------------
_COCO_NAMES = ("nose", "eye_left", "eye_right", "ear_left", "ear_right", "shoulder_left",
               "shoulder_right", "elbow_left", "elbow_right", "wrist_left", "wrist_right",
               "hip_left", "hip_right", "knee_left", "knee_right", "ankle_left", "ankle_right")
_COCO_PARENTS = (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14)
COCO17 = Skeleton(
    "coco17", _COCO_NAMES, _COCO_PARENTS,
    mirror_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    center=0,
)

# --- Human3.6M, 17 joints (VideoPose3D order) -------------------------------------------------
_H36M_NAMES = ("hip", "hip_right", "knee_right", "foot_right", "hip_left", "knee_left",
               "foot_left", "spine", "thorax", "neck_nose", "head", "shoulder_left",
               "elbow_left", "wrist_left", "shoulder_right", "elbow_right", "wrist_right")
_H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M17 = Skeleton(
    "h36m17", _H36M_NAMES, _H36M_PARENTS,
    mirror_pairs=((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)),
    center=0,
)
#: Indices of the 17 kept joints among Human3.6M's 32 (VideoPose3D ``remove_joints``).
H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# --- DeepMimic humanoid (pybullet_data/humanoid/humanoid.urdf) --------------------------------
_DM_NAMES = ("root", "chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder",
             "right_elbow", "right_wrist", "left_hip", "left_knee", "left_ankle",
             "left_shoulder", "left_elbow", "left_wrist")
_DM_PARENTS = (-1, 0, 1, 0, 3, 4, 1, 6, 7, 0, 9, 10, 1, 12, 13)
DEEPMIMIC = Skeleton(
    "deepmimic", _DM_NAMES, _DM_PARENTS,
    mirror_pairs=((3, 9), (4, 10), (5, 11), (6, 12), (7, 13), (8, 14)),
    center=0,
)


def _parents_from_edges(V, edges, root):
    parents = [-2] * V
    parents[root] = -1
    adj = {j: set() for j in range(V)}
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    stack = [root]
    while stack:
        j = stack.pop()
        for k in sorted(adj[j]):
            if parents[k] == -2:
                parents[k] = j
                stack.append(k)
    return tuple(parents)


OPENPOSE18 = Skeleton(
    "openpose18", _OP_NAMES, _parents_from_edges(18, _OP_EDGES, 1),
    mirror_pairs=((5, 2), (6, 3), (7, 4), (11, 8), (12, 9), (13, 10), (15, 14), (17, 16)),
    center=1,
)

SKELETONS = {s.name: s for s in (NTU25, OPENPOSE18, COCO17, H36M17, DEEPMIMIC)}


def get_skeleton(name: str) -> Skeleton:
    """Look a skeleton up by name (``ntu25``, ``openpose18``, ``coco17``, ``h36m17``,
    ``deepmimic``). Raises ``KeyError`` listing the known names."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; known: {sorted(SKELETONS)}") from None
