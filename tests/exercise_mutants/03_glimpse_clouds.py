"""Wrong answers that students really write, for notebooks/exercises/03_glimpse_clouds.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.
"""
MUTANTS = {
    "ex1_glimpse_crops": [
        ("x and y swapped in the affine transform (the grid's y/x order confused)", '''
def glimpse_crops(images, l, size):
    N, G, _ = l.shape
    h, w = size
    x, y, sx, sy = l.reshape(N * G, 4).unbind(-1)
    zero = torch.zeros_like(x)
    theta = torch.stack([torch.stack([sx, zero, y], -1), torch.stack([zero, sy, x], -1)], -2)
    grid = F.affine_grid(theta, (N * G, images.shape[1], h, w), align_corners=False)
    crops = F.grid_sample(images.repeat_interleave(G, dim=0), grid, align_corners=False)
    return crops.reshape(N, G, images.shape[1], h, w)
'''),
        ("the window moved the wrong way: translation -x, -y", '''
def glimpse_crops(images, l, size):
    N, G, _ = l.shape
    h, w = size
    x, y, sx, sy = l.reshape(N * G, 4).unbind(-1)
    zero = torch.zeros_like(x)
    theta = torch.stack([torch.stack([sx, zero, -x], -1), torch.stack([zero, sy, -y], -1)], -2)
    grid = F.affine_grid(theta, (N * G, images.shape[1], h, w), align_corners=False)
    crops = F.grid_sample(images.repeat_interleave(G, dim=0), grid, align_corners=False)
    return crops.reshape(N, G, images.shape[1], h, w)
'''),
        ("the scale read as a zoom factor: 1 / s in the transform", '''
def glimpse_crops(images, l, size):
    N, G, _ = l.shape
    h, w = size
    x, y, sx, sy = l.reshape(N * G, 4).unbind(-1)
    zero = torch.zeros_like(x)
    theta = torch.stack([torch.stack([1 / sx, zero, x], -1), torch.stack([zero, 1 / sy, y], -1)], -2)
    grid = F.affine_grid(theta, (N * G, images.shape[1], h, w), align_corners=False)
    crops = F.grid_sample(images.repeat_interleave(G, dim=0), grid, align_corners=False)
    return crops.reshape(N, G, images.shape[1], h, w)
'''),
        ("align_corners=True: -1 and +1 become the centres of the border pixels", '''
def glimpse_crops(images, l, size):
    N, G, _ = l.shape
    h, w = size
    x, y, sx, sy = l.reshape(N * G, 4).unbind(-1)
    zero = torch.zeros_like(x)
    theta = torch.stack([torch.stack([sx, zero, x], -1), torch.stack([zero, sy, y], -1)], -2)
    grid = F.affine_grid(theta, (N * G, images.shape[1], h, w), align_corners=True)
    crops = F.grid_sample(images.repeat_interleave(G, dim=0), grid, align_corners=True)
    return crops.reshape(N, G, images.shape[1], h, w)
'''),
        ("theta built from numbers (torch.tensor of l.tolist()): no gradient reaches l", '''
def glimpse_crops(images, l, size):
    N, G, _ = l.shape
    h, w = size
    theta = torch.tensor([[[sx, 0.0, x], [0.0, sy, y]] for x, y, sx, sy in l.reshape(N * G, 4).tolist()],
                         dtype=images.dtype)
    grid = F.affine_grid(theta, (N * G, images.shape[1], h, w), align_corners=False)
    crops = F.grid_sample(images.repeat_interleave(G, dim=0), grid, align_corners=False)
    return crops.reshape(N, G, images.shape[1], h, w)
'''),
        ("images tiled with repeat instead of repeat_interleave: glimpse (n, g) reads another image", '''
def glimpse_crops(images, l, size):
    N, G, _ = l.shape
    h, w = size
    x, y, sx, sy = l.reshape(N * G, 4).unbind(-1)
    zero = torch.zeros_like(x)
    theta = torch.stack([torch.stack([sx, zero, x], -1), torch.stack([zero, sy, y], -1)], -2)
    grid = F.affine_grid(theta, (N * G, images.shape[1], h, w), align_corners=False)
    crops = F.grid_sample(images.repeat(G, 1, 1, 1), grid, align_corners=False)
    return crops.reshape(N, G, images.shape[1], h, w)
'''),
        ("size read as (w, h)", '''
def glimpse_crops(images, l, size):
    N, G, _ = l.shape
    w, h = size
    x, y, sx, sy = l.reshape(N * G, 4).unbind(-1)
    zero = torch.zeros_like(x)
    theta = torch.stack([torch.stack([sx, zero, x], -1), torch.stack([zero, sy, y], -1)], -2)
    grid = F.affine_grid(theta, (N * G, images.shape[1], h, w), align_corners=False)
    crops = F.grid_sample(images.repeat_interleave(G, dim=0), grid, align_corners=False)
    return crops.reshape(N, G, images.shape[1], h, w)
'''),
    ],
    "ex2_memory_distance": [
        ("the paper's batch-wide min-max (a clip depends on its batch)", '''
def memory_distance(v, M, A):
    phi = (((v[:, :, None] - M[:, None]) @ A.T).pow(2).sum(-1) + 1e-8).sqrt()
    return (phi - phi.min()) / (phi.max() - phi.min()).clamp_min(1e-6)
'''),
        ("min-max per glimpse (over the K entries only)", '''
def memory_distance(v, M, A):
    phi = (((v[:, :, None] - M[:, None]) @ A.T).pow(2).sum(-1) + 1e-8).sqrt()
    lo, hi = phi.amin(-1, keepdim=True), phi.amax(-1, keepdim=True)
    return (phi - lo) / (hi - lo).clamp_min(1e-6)
'''),
        ("squared distance: the square root forgotten", '''
def memory_distance(v, M, A):
    phi = ((v[:, :, None] - M[:, None]) @ A.T).pow(2).sum(-1)
    lo, hi = phi.amin((1, 2), keepdim=True), phi.amax((1, 2), keepdim=True)
    return (phi - lo) / (hi - lo).clamp_min(1e-6)
'''),
        ("D = A A^T: multiplied by A instead of A^T", '''
def memory_distance(v, M, A):
    phi = (((v[:, :, None] - M[:, None]) @ A).pow(2).sum(-1) + 1e-8).sqrt()
    lo, hi = phi.amin((1, 2), keepdim=True), phi.amax((1, 2), keepdim=True)
    return (phi - lo) / (hi - lo).clamp_min(1e-6)
'''),
        ("Euclidean distance: D ignored", '''
def memory_distance(v, M, A):
    phi = torch.cdist(v, M)
    lo, hi = phi.amin((1, 2), keepdim=True), phi.amax((1, 2), keepdim=True)
    return (phi - lo) / (hi - lo).clamp_min(1e-6)
'''),
        ("divided by the maximum only (the minimum not subtracted)", '''
def memory_distance(v, M, A):
    phi = (((v[:, :, None] - M[:, None]) @ A.T).pow(2).sum(-1) + 1e-8).sqrt()
    return phi / phi.amax((1, 2), keepdim=True).clamp_min(1e-6)
'''),
        ("no clamp: 0 / 0 when all distances are equal", '''
def memory_distance(v, M, A):
    phi = ((v[:, :, None] - M[:, None]) @ A.T).pow(2).sum(-1).sqrt()
    lo, hi = phi.amin((1, 2), keepdim=True), phi.amax((1, 2), keepdim=True)
    return (phi - lo) / (hi - lo)
'''),
    ],
    "ex3_soft_assign": [
        ("softmax over the workers instead of the glimpses", '''
def soft_assign(phi, wmem, ts, t, alpha, decay):
    score = torch.einsum("bck,bgk->bcg", wmem * torch.exp(-decay * (t - ts)), 1 - phi)
    return torch.softmax(score / alpha, dim=1)
'''),
        ("decay with the wrong sign: old entries weigh more", '''
def soft_assign(phi, wmem, ts, t, alpha, decay):
    score = torch.einsum("bck,bgk->bcg", wmem * torch.exp(decay * (t - ts)), 1 - phi)
    return torch.softmax(score / alpha, dim=-1)
'''),
        ("the printed Eq. 10: exp(-lambda t_k), the entry's frame instead of its age", '''
def soft_assign(phi, wmem, ts, t, alpha, decay):
    score = torch.einsum("bck,bgk->bcg", wmem * torch.exp(-decay * ts), 1 - phi)
    return torch.softmax(score / alpha, dim=-1)
'''),
        ("the complement of the decay: 1 - exp(-lambda (t - t_k))", '''
def soft_assign(phi, wmem, ts, t, alpha, decay):
    score = torch.einsum("bck,bgk->bcg", wmem * (1 - torch.exp(-decay * (t - ts))), 1 - phi)
    return torch.softmax(score / alpha, dim=-1)
'''),
        ("distance instead of similarity: phi where 1 - phi belongs", '''
def soft_assign(phi, wmem, ts, t, alpha, decay):
    score = torch.einsum("bck,bgk->bcg", wmem * torch.exp(-decay * (t - ts)), phi)
    return torch.softmax(score / alpha, dim=-1)
'''),
        ("temperature multiplied instead of divided", '''
def soft_assign(phi, wmem, ts, t, alpha, decay):
    score = torch.einsum("bck,bgk->bcg", wmem * torch.exp(-decay * (t - ts)), 1 - phi)
    return torch.softmax(score * alpha, dim=-1)
'''),
        ("the decay of the current frame for every entry: exp(-lambda t)", '''
def soft_assign(phi, wmem, ts, t, alpha, decay):
    score = torch.einsum("bck,bgk->bcg", wmem * math.exp(-decay * t), 1 - phi)
    return torch.softmax(score / alpha, dim=-1)
'''),
    ],
    "ex4_memory_write": [
        ("keeps the first K entries: the newest are dropped", '''
def memory_write(M, wmem, ts, v_t, p_t, t, K):
    M = torch.cat([M, v_t], 1)[:, :K]
    wmem = torch.cat([wmem, p_t], 2)[:, :, :K]
    ts = torch.cat([ts, ts.new_full((v_t.shape[1],), float(t))])[:K]
    return M, wmem, ts
'''),
        ("no eviction: the memory grows without bound", '''
def memory_write(M, wmem, ts, v_t, p_t, t, K):
    M = torch.cat([M, v_t], 1)
    wmem = torch.cat([wmem, p_t], 2)
    ts = torch.cat([ts, ts.new_full((v_t.shape[1],), float(t))])
    return M, wmem, ts
'''),
        ("the weights cut on the worker axis: wmem[:, -K:]", '''
def memory_write(M, wmem, ts, v_t, p_t, t, K):
    M = torch.cat([M, v_t], 1)[:, -K:]
    wmem = torch.cat([wmem, p_t], 2)[:, -K:]
    ts = torch.cat([ts, ts.new_full((v_t.shape[1],), float(t))])[-K:]
    return M, wmem, ts
'''),
        ("every entry re-stamped with the current frame", '''
def memory_write(M, wmem, ts, v_t, p_t, t, K):
    M = torch.cat([M, v_t], 1)[:, -K:]
    wmem = torch.cat([wmem, p_t], 2)[:, :, -K:]
    return M, wmem, torch.full((M.shape[1],), float(t))
'''),
        ("writes the workers' mixtures v~_{t,c} (Eq. 8) instead of the glimpses", '''
def memory_write(M, wmem, ts, v_t, p_t, t, K):
    M = torch.cat([M, torch.einsum("bcg,bgd->bcd", p_t, v_t)], 1)[:, -K:]
    wmem = torch.cat([wmem, p_t], 2)[:, :, -K:]
    ts = torch.cat([ts, ts.new_full((v_t.shape[1],), float(t))])[-K:]
    return M, wmem, ts
'''),
        ("weights of a new entry uniform over the workers (1/C) instead of p_{t,c,g}", '''
def memory_write(M, wmem, ts, v_t, p_t, t, K):
    M = torch.cat([M, v_t], 1)[:, -K:]
    wmem = torch.cat([wmem, torch.full_like(p_t, 1.0 / p_t.shape[1])], 2)[:, :, -K:]
    ts = torch.cat([ts, ts.new_full((v_t.shape[1],), float(t))])[-K:]
    return M, wmem, ts
'''),
    ],
}
