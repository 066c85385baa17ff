import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from paperlib import kinematics as K
from paperlib.skeleton import NTU25


@pytest.fixture
def aa():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 3, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True) * torch.rand(500, 1, generator=g, dtype=torch.float64) * 3.0
    x[0] = 0.0  # the zero rotation
    x[1] = torch.tensor([1e-9, 0, 0])
    return x


def test_axis_angle_matrix_against_scipy(aa):
    R = K.axis_angle_to_matrix(aa)
    ref = Rotation.from_rotvec(aa.numpy()).as_matrix()
    np.testing.assert_allclose(R.numpy(), ref, atol=1e-12)


def test_round_trips(aa):
    R = K.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(K.matrix_to_axis_angle(R).numpy(), aa.numpy(), atol=1e-9)
    q = K.axis_angle_to_quat(aa)
    np.testing.assert_allclose(K.quat_to_matrix(q).numpy(), R.numpy(), atol=1e-12)
    q2 = K.matrix_to_quat(R)
    np.testing.assert_allclose(q2.numpy(), (q * torch.sign(q[:, :1])).numpy(), atol=1e-9)
    np.testing.assert_allclose(K.quat_to_axis_angle(q).numpy(), aa.numpy(), atol=1e-9)


def test_quaternion_convention_matches_scipy(aa):
    q = K.axis_angle_to_quat(aa).numpy()
    ref = Rotation.from_rotvec(aa.numpy()).as_quat()  # scipy: x, y, z, w
    np.testing.assert_allclose(np.abs(q), np.abs(ref[:, [3, 0, 1, 2]]), atol=1e-12)
    a, b = q[:10], q[10:20]
    prod = K.quat_multiply(a, b)
    ref_prod = (Rotation.from_quat(a[:, [1, 2, 3, 0]]) * Rotation.from_quat(b[:, [1, 2, 3, 0]])).as_matrix()
    np.testing.assert_allclose(K.quat_to_matrix(prod), ref_prod, atol=1e-12)


def test_numpy_in_numpy_out_and_euler():
    ang = np.random.default_rng(0).normal(size=(7, 3))
    R = K.euler_to_matrix(ang, "xyz")
    assert isinstance(R, np.ndarray) and R.shape == (7, 3, 3)
    np.testing.assert_allclose(R, Rotation.from_euler("XYZ", ang).as_matrix(), atol=1e-12)
    with pytest.raises(ValueError, match="permutation"):
        K.euler_to_matrix(ang, "xxy")
    with pytest.raises(ValueError, match="last dimension 3"):
        K.axis_angle_to_matrix(np.zeros((2, 4)))


def test_fk_rest_pose_equals_offsets():
    from paperlib.data.synthetic import rest_offsets

    off = rest_offsets()
    rot = np.broadcast_to(np.eye(3), (25, 3, 3))
    pos = K.forward_kinematics(rot, off, NTU25.parents)
    # at rest every joint is its parent plus its offset
    for j, p in enumerate(NTU25.parents):
        expect = off[j] if p < 0 else pos[p] + off[j]
        np.testing.assert_allclose(pos[j], expect, atol=1e-12)


def test_fk_rotation_of_the_root_rotates_everything():
    off = np.random.default_rng(1).normal(size=(25, 3))
    R0 = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    rot = np.broadcast_to(np.eye(3), (25, 3, 3)).copy()
    base = K.forward_kinematics(rot, off, NTU25.parents)
    rot[0] = R0
    turned = K.forward_kinematics(rot, off, NTU25.parents)
    # the root stays at its offset; everything turns about it
    np.testing.assert_allclose(turned, (base - off[0]) @ R0.T + off[0], atol=1e-12)


def test_fk_elbow_bend_moves_only_the_forearm_and_keeps_lengths():
    from paperlib.data.synthetic import rest_offsets

    off = torch.from_numpy(rest_offsets())
    rot = torch.eye(3, dtype=torch.float64).repeat(2, 25, 1, 1)
    el = NTU25.index("elbow_right")
    rot[1, el] = K.axis_angle_to_matrix(torch.tensor([-1.2, 0.0, 0.0], dtype=torch.float64))
    pos, glob = K.forward_kinematics(rot, off, NTU25.parents, root_translation=torch.zeros(2, 3, dtype=torch.float64),
                                     return_global=True)
    moved = (pos[0] - pos[1]).norm(dim=-1) > 1e-9
    descendants = {NTU25.index(n) for n in ("wrist_right", "hand_right", "handtip_right", "thumb_right")}
    assert set(torch.nonzero(moved).flatten().tolist()) == descendants
    for c, p in NTU25.bones:
        assert torch.isclose((pos[1, c] - pos[1, p]).norm(), (pos[0, c] - pos[0, p]).norm())
    assert glob.shape == (2, 25, 3, 3)
    # positive elbow flexion (our convention: -angle about x) brings the hand forward (+z body)
    assert pos[1, NTU25.index("hand_right"), 2] > 0.2


def test_fk_numerical_jacobian_matches_autograd():
    off = torch.randn(25, 3, dtype=torch.float64)
    aa = (0.3 * torch.randn(25, 3, dtype=torch.float64)).requires_grad_()

    def f(a):
        return K.forward_kinematics(K.axis_angle_to_matrix(a), off, NTU25.parents).sum()

    assert torch.autograd.gradcheck(f, (aa,))


def test_fk_errors():
    with pytest.raises(ValueError, match="local_rot"):
        K.forward_kinematics(np.zeros((24, 3, 3)), np.zeros((25, 3)), NTU25.parents)
    with pytest.raises(ValueError, match="tree"):
        K.forward_kinematics(np.zeros((3, 3, 3)), np.zeros((3, 3)), [-1, 2, 1])


def test_projections():
    pts = np.array([[0.0, 0.0, 2.0], [0.5, 0.25, 2.0]])
    uv = K.project_pinhole(pts, 100.0, (32.0, 32.0))
    # x towards the image's left (Kinect), y up
    np.testing.assert_allclose(uv, [[32, 32], [32 - 25, 32 - 12.5]])
    with pytest.raises(ValueError, match="behind"):
        K.project_pinhole(np.array([[0.0, 0.0, -1.0]]), 100.0, (0.0, 0.0))
    wp = K.project_weak_perspective(pts, 2.0, np.array([0.1, -0.1]))
    np.testing.assert_allclose(wp, [[0.1, -0.1], [1.1, 0.4]])
