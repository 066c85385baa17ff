import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from paperlib import metrics as M


def test_accuracy_and_auc():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    assert M.accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    acc = M.accuracy_per_ratio(lambda r: torch.tensor([0, 1, 1]) if r > 0.5 else torch.tensor([1, 1, 1]),
                               [0.1, 0.5, 1.0], torch.tensor([0, 1, 1]))
    assert acc == {0.1: pytest.approx(2 / 3), 0.5: pytest.approx(2 / 3), 1.0: 1.0}
    assert M.auc_over_ratios({0.1: 0.2, 0.2: 0.4, 1.0: 0.9}) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        M.auc_over_ratios({})
    with pytest.raises(ValueError):
        M.accuracy(torch.zeros(3, 2), torch.zeros(4))


def test_mpjpe_and_pck():
    a = np.zeros((2, 4, 3))
    b = a.copy()
    b[..., 0] = 0.03
    assert M.mpjpe(a, b) == pytest.approx(0.03)
    assert M.pck(a, b, 0.05) == 1.0 and M.pck(a, b, 0.02) == 0.0
    mask = np.zeros((2, 4))
    mask[:, 0] = 1
    b[:, 1:] = 5.0
    assert M.mpjpe(a, b, mask) == pytest.approx(0.03)
    with pytest.raises(ValueError):
        M.mpjpe(a, b[:, :3])


def test_procrustes_recovers_similarity_transform():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(5, 17, 3))
    R = Rotation.random(5, random_state=1).as_matrix()
    p = 0.7 * np.einsum("nij,nvj->nvi", R, y) + rng.normal(size=(5, 1, 3))
    assert M.pa_mpjpe(p, y) < 1e-9
    assert M.mpjpe(p, y) > 0.1


def test_procrustes_against_scipy_and_reflection_fix():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(17, 3))
    p = y + 0.2 * rng.normal(size=(17, 3))
    aligned = M.procrustes_align(p, y)
    # scipy: rotation that maps the centred p onto the centred y (it allows reflections)
    p0, y0 = p - p.mean(0), y - y.mean(0)
    R, s = orthogonal_procrustes(p0, y0)
    assert np.linalg.det(R) > 0  # no reflection needed for this case, so they must agree
    ref = (s / (p0 ** 2).sum()) * p0 @ R + y.mean(0)
    np.testing.assert_allclose(aligned, ref, atol=1e-9)
    # a mirror image cannot be undone by a proper rotation
    mirrored = y * np.array([-1.0, 1.0, 1.0])
    R2, _ = orthogonal_procrustes(mirrored - mirrored.mean(0), y0)
    assert np.linalg.det(R2) < 0  # scipy would reflect
    assert M.pa_mpjpe(mirrored, y) > 0.05  # ours does not


def test_procrustes_torch_batched():
    y = torch.randn(4, 3, 17, 3, dtype=torch.float64)
    out = M.procrustes_align(y + 0.01, y)
    assert isinstance(out, torch.Tensor) and out.shape == y.shape
    assert torch.allclose(out, y, atol=1e-9)
