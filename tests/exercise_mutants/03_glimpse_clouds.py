"""Wrong answers that students really write, for notebooks/exercises/03_glimpse_clouds.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.

All mutants are written as edits of the reference answer (paperlib.tools.grading.mutate).
"""
from paperlib.tools.grading import mutate

STEM = "03_glimpse_clouds"

_THETA = "torch.stack([torch.stack([sx, zero, x], -1), torch.stack([zero, sy, y], -1)], -2)"
_LO = "lo = phi.amin((1, 2), keepdim=True)"
_HI = "hi = phi.amax((1, 2), keepdim=True)"
_PHI = "phi = (diff.pow(2).sum(-1) + 1e-8).sqrt()"
_DECAY = "torch.exp(-decay * (t - ts))"
_M = "M = torch.cat([M, v_t], 1)[:, -K:]"
_W = "wmem = torch.cat([wmem, p_t], 2)[:, :, -K:]"
_TS = "ts = torch.cat([ts, ts.new_full((v_t.shape[1],), float(t))])[-K:]"

MUTANTS = {
    "ex1_glimpse_crops": [
        ("x and y swapped in the affine transform (the grid's y/x order confused)", mutate(
            STEM, "ex1_glimpse_crops",
            (_THETA, "torch.stack([torch.stack([sx, zero, y], -1), torch.stack([zero, sy, x], -1)], -2)"))),
        ("the window moved the wrong way: translation -x, -y", mutate(
            STEM, "ex1_glimpse_crops",
            (_THETA, "torch.stack([torch.stack([sx, zero, -x], -1), torch.stack([zero, sy, -y], -1)], -2)"))),
        ("the scale read as a zoom factor: 1 / s in the transform", mutate(
            STEM, "ex1_glimpse_crops",
            (_THETA, "torch.stack([torch.stack([1 / sx, zero, x], -1), torch.stack([zero, 1 / sy, y], -1)], -2)"))),
        ("align_corners=True: -1 and +1 become the centres of the border pixels", mutate(
            STEM, "ex1_glimpse_crops",
            ("h, w), align_corners=False)", "h, w), align_corners=True)"),
            ('padding_mode="zeros", align_corners=False)', 'padding_mode="zeros", align_corners=True)'))),
        ("theta built from numbers (torch.tensor of l.tolist()): no gradient reaches l", mutate(
            STEM, "ex1_glimpse_crops",
            ("grid = F.affine_grid(theta,",
             "theta = torch.tensor(theta.tolist(), dtype=images.dtype)\n    grid = F.affine_grid(theta,"))),
        ("images tiled with repeat instead of repeat_interleave: glimpse (n, g) reads another image", mutate(
            STEM, "ex1_glimpse_crops", ("src = images.repeat_interleave(G, dim=0)", "src = images.repeat(G, 1, 1, 1)"))),
        ("size read as (w, h)", mutate(STEM, "ex1_glimpse_crops", ("h, w = size", "w, h = size"))),
    ],
    "ex2_memory_distance": [
        ("the paper's batch-wide min-max (a clip depends on its batch)", mutate(
            STEM, "ex2_memory_distance", (_LO, "lo = phi.min()"), (_HI, "hi = phi.max()"))),
        ("min-max per glimpse (over the K entries only)", mutate(
            STEM, "ex2_memory_distance",
            (_LO, "lo = phi.amin(-1, keepdim=True)"), (_HI, "hi = phi.amax(-1, keepdim=True)"))),
        ("squared distance: the square root forgotten", mutate(
            STEM, "ex2_memory_distance", (_PHI, "phi = diff.pow(2).sum(-1)"))),
        ("D = A A^T: multiplied by A instead of A^T", mutate(STEM, "ex2_memory_distance", ("@ A.T", "@ A"))),
        ("Euclidean distance: D ignored", mutate(STEM, "ex2_memory_distance", (_PHI, "phi = torch.cdist(v, M)"))),
        ("divided by the maximum only (the minimum not subtracted)", mutate(
            STEM, "ex2_memory_distance",
            ("return (phi - lo) / (hi - lo).clamp_min(1e-6)", "return phi / hi.clamp_min(1e-6)"))),
        ("no clamp: 0 / 0 when all distances are equal", mutate(
            STEM, "ex2_memory_distance", (_PHI, "phi = diff.pow(2).sum(-1).sqrt()"),
            ("(hi - lo).clamp_min(1e-6)", "(hi - lo)"))),
    ],
    "ex3_soft_assign": [
        ("softmax over the workers instead of the glimpses", mutate(STEM, "ex3_soft_assign", ("dim=-1)", "dim=1)"))),
        ("decay with the wrong sign: old entries weigh more", mutate(
            STEM, "ex3_soft_assign", (_DECAY, "torch.exp(decay * (t - ts))"))),
        ("the printed Eq. 10: exp(-lambda t_k), the entry's frame instead of its age", mutate(
            STEM, "ex3_soft_assign", (_DECAY, "torch.exp(-decay * ts)"))),
        ("the complement of the decay: 1 - exp(-lambda (t - t_k))", mutate(
            STEM, "ex3_soft_assign", (_DECAY, "(1 - torch.exp(-decay * (t - ts)))"))),
        ("distance instead of similarity: phi where 1 - phi belongs", mutate(
            STEM, "ex3_soft_assign", ("w, 1 - phi)", "w, phi)"))),
        ("temperature multiplied instead of divided", mutate(STEM, "ex3_soft_assign", ("score / alpha", "score * alpha"))),
        ("the decay of the current frame for every entry: exp(-lambda t)", mutate(
            STEM, "ex3_soft_assign", (_DECAY, "math.exp(-decay * t)"))),
    ],
    "ex4_memory_write": [
        ("keeps the first K entries: the newest are dropped", mutate(
            STEM, "ex4_memory_write", (_M, "M = torch.cat([M, v_t], 1)[:, :K]"),
            (_W, "wmem = torch.cat([wmem, p_t], 2)[:, :, :K]"),
            (_TS, "ts = torch.cat([ts, ts.new_full((v_t.shape[1],), float(t))])[:K]"))),
        ("no eviction: the memory grows without bound", mutate(
            STEM, "ex4_memory_write", (_M, "M = torch.cat([M, v_t], 1)"), (_W, "wmem = torch.cat([wmem, p_t], 2)"),
            (_TS, "ts = torch.cat([ts, ts.new_full((v_t.shape[1],), float(t))])"))),
        ("the weights cut on the worker axis: wmem[:, -K:]", mutate(
            STEM, "ex4_memory_write", (_W, "wmem = torch.cat([wmem, p_t], 2)[:, -K:]"))),
        ("every entry re-stamped with the current frame", mutate(
            STEM, "ex4_memory_write", ("return M, wmem, ts", "return M, wmem, torch.full((M.shape[1],), float(t))"))),
        ("writes the workers' mixtures v~_{t,c} (Eq. 8) instead of the glimpses", mutate(
            STEM, "ex4_memory_write", ("torch.cat([M, v_t], 1)", 'torch.cat([M, torch.einsum("bcg,bgd->bcd", p_t, v_t)], 1)'))),
        ("weights of a new entry uniform over the workers (1/C) instead of p_{t,c,g}", mutate(
            STEM, "ex4_memory_write",
            ("torch.cat([wmem, p_t], 2)", "torch.cat([wmem, torch.full_like(p_t, 1.0 / p_t.shape[1])], 2)"))),
    ],
}
