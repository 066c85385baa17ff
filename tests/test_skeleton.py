import numpy as np
import pytest

from paperlib.skeleton import COCO17, DEEPMIMIC, H36M17, NTU25, OPENPOSE18, SKELETONS, Skeleton, get_skeleton


@pytest.mark.parametrize("skel,V", [(NTU25, 25), (OPENPOSE18, 18), (COCO17, 17), (H36M17, 17), (DEEPMIMIC, 15)])
def test_tree_sizes_and_order(skel, V):
    assert skel.num_joints == V
    assert len(skel.bones) == V - 1
    seen = set()
    for j in skel.order:  # topological: parent before child
        p = skel.parents[j]
        assert p < 0 or p in seen
        seen.add(j)
    assert seen == set(range(V))


@pytest.mark.parametrize("skel", list(SKELETONS.values()))
def test_adjacency_partition(skel):
    A = skel.adjacency()
    V = skel.num_joints
    assert A.shape == (3, V, V)
    np.testing.assert_array_equal(A[0], np.eye(V))
    # centripetal: every joint except the centre aggregates exactly one neighbour (column sums 1)
    col = A[1].sum(0)
    assert np.isclose(col[skel.center], 0)
    assert np.allclose(np.delete(col, skel.center), 1)
    # centrifugal columns are means over children: sums are 0 or 1
    assert set(np.round(A[2].sum(0), 6)) <= {0.0, 1.0}
    # inward and outward are transposes before normalisation
    np.testing.assert_array_equal(A[1] > 0, (A[2] > 0).T)
    # the union of both is the undirected graph (the graph tree, which may differ from the kinematic one)
    und = np.zeros((V, V), bool)
    for a, b in skel.graph_bones:
        und[a, b] = und[b, a] = True
    np.testing.assert_array_equal((A[1] + A[2]) > 0, und)


def test_inward_edges_point_to_centre():
    d = NTU25.hop_distance()
    assert d[NTU25.center] == 0
    for far, near in NTU25.inward_edges():
        assert d[far] == d[near] + 1


def test_ntu_names_and_mirror():
    assert NTU25.joint_names[20] == "spine_shoulder" and NTU25.center == 20
    assert NTU25.parents[NTU25.index("hand_left")] == NTU25.index("wrist_left")
    perm = NTU25.mirror_permutation()
    assert perm[NTU25.index("knee_left")] == NTU25.index("knee_right")
    np.testing.assert_array_equal(perm[perm], np.arange(25))
    for a, b in NTU25.mirror_pairs:
        assert NTU25.joint_names[a].replace("left", "right") == NTU25.joint_names[b]


def test_invalid_trees_raise():
    with pytest.raises(ValueError, match="one root"):
        Skeleton("bad", ("a", "b"), (-1, -1))
    with pytest.raises(ValueError, match="not reachable"):
        Skeleton("cyc", ("a", "b", "c"), (-1, 2, 1))
    with pytest.raises(KeyError, match="known"):
        get_skeleton("nope")
    with pytest.raises(KeyError, match="ntu25"):
        NTU25.index("tail")


def test_ntu_graph_follows_st_gcn_hand_chain():
    """ST-GCN / 2s-AGCN chain the hand joints tip -> thumb -> hand (1-based 22-23-8, 24-25-12);
    the kinematic tree (forward kinematics) keeps Kinect's hand -> tip and hand -> thumb."""
    s = NTU25
    tip_l, thumb_l, hand_l = s.index("handtip_left"), s.index("thumb_left"), s.index("hand_left")
    tip_r, thumb_r, hand_r = s.index("handtip_right"), s.index("thumb_right"), s.index("hand_right")
    assert {(tip_l, thumb_l), (thumb_l, hand_l), (tip_r, thumb_r), (thumb_r, hand_r)} <= set(s.graph_bones)
    assert (tip_l, hand_l) not in s.graph_bones and (tip_l, hand_l) in s.bones
    st_gcn_1based = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
                     (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
                     (20, 19), (22, 23), (23, 8), (24, 25), (25, 12)]
    ours = {frozenset(e) for e in s.graph_bones}
    assert ours == {frozenset((a - 1, b - 1)) for a, b in st_gcn_1based}
    assert s.joint_names[s.center] == "spine_shoulder"  # ST-GCN's fixed centre, joint 21 (1-based)
    assert s.hop_distance()[tip_l] == s.hop_distance()[thumb_l] + 1
    A = s.adjacency()
    assert A[1][thumb_l, tip_l] == 1.0  # the tip aggregates its centripetal neighbour, the thumb
