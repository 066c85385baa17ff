"""Wrong answers that students really write, for notebooks/exercises/05_action_guided_motion_prediction.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.

Two DTW and three prefix-DTW mutants are different functions and keep their whole source (a
comment says why); the others are edits of the reference answer (paperlib.tools.grading.mutate).
"""
from paperlib.tools.grading import mutate

STEM = "05_action_guided_motion_prediction"

_SOFTMAX = "attn = torch.softmax(sim, dim=-1)"
_MASK_INF = 'sim = sim.masked_fill(~mask, float("-inf"))'
_STEP = "D[i + 1, j + 1] = c[i, j] + min(D[i, j + 1], D[i + 1, j], D[i, j])"
_ALIGNED = "aligned = s[..., None, None] * (p0 @ R.mT) + mu_y"

MUTANTS = {
    "ex1_query_read": [
        ("softmax over the batch axis instead of the items", mutate(
            STEM, "ex1_query_read", (_SOFTMAX, "attn = torch.softmax(sim, dim=0)"))),
        ("the paper's unscaled Eq. 3: no 1/sqrt(C_k)", mutate(
            STEM, "ex1_query_read", ("* tau / math.sqrt(keys.shape[-1])", "* tau"))),
        ("scaled by sqrt of the number of items N instead of the key width C_k", mutate(
            STEM, "ex1_query_read", ("math.sqrt(keys.shape[-1])", "math.sqrt(keys.shape[1])"))),
        ("padding logits set to 0 instead of -inf: padded items still get weight", mutate(
            STEM, "ex1_query_read", (_MASK_INF, "sim = sim.masked_fill(~mask, 0.0)"))),
        ("mask applied after the softmax without renormalising", mutate(
            STEM, "ex1_query_read",
            ("if mask is not None:\n        " + _MASK_INF + "\n    " + _SOFTMAX,
             _SOFTMAX + "\n    if mask is not None:\n        attn = attn * mask"))),
        ("temperature divides the logits instead of multiplying them", mutate(
            STEM, "ex1_query_read", ("* tau / math.sqrt", "/ tau / math.sqrt"))),
        ("hard read: the value of the best item (argmax, no gradient to the query)", mutate(
            STEM, "ex1_query_read",
            (_SOFTMAX, "attn = torch.nn.functional.one_hot(sim.argmax(-1), sim.shape[-1]).to(q.dtype)"))),
    ],
    "ex2_dtw_accumulate": [
        ("no diagonal step: only up and left moves", mutate(
            STEM, "ex2_dtw_accumulate", (_STEP, "D[i + 1, j + 1] = c[i, j] + min(D[i, j + 1], D[i + 1, j])"))),
        # A different function: the textbook loop over a copy of the cost, from index 1 and without
        # the reference's infinite border (so the first row and column are never accumulated).
        ("first row and column left as raw costs (not accumulated)", '''
def dtw_accumulate(cost):
    D = np.array(cost, dtype=np.float64)
    n, m = D.shape
    for i in range(1, n):
        for j in range(1, m):
            D[i, j] = D[i, j] + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return D
'''),
        ("zero border instead of infinite: a path may start anywhere for free", mutate(
            STEM, "ex2_dtw_accumulate",
            ("D = np.full((n + 1, m + 1), np.inf)\n    D[0, 0] = 0.0", "D = np.zeros((n + 1, m + 1))"))),
        ("dtw-python's symmetric2 pattern: the diagonal step counts the cost twice", mutate(
            STEM, "ex2_dtw_accumulate",
            (_STEP, "D[i + 1, j + 1] = min(D[i, j + 1] + c[i, j], D[i + 1, j] + c[i, j], D[i, j] + 2 * c[i, j])"),
            ("return D[1:, 1:]", "D[1, 1] = c[0, 0]\n    return D[1:, 1:]"))),
        # A different function: the textbook loop without a border, written straight into `cost`
        # (the reference accumulates into a padded copy, so it cannot make this mistake by an edit).
        ("accumulates in place into the caller's cost array", '''
def dtw_accumulate(cost):
    D = cost
    n, m = D.shape
    for i in range(n):
        for j in range(m):
            if i == 0 and j == 0:
                continue
            up = D[i - 1, j] if i > 0 else np.inf
            left = D[i, j - 1] if j > 0 else np.inf
            diag = D[i - 1, j - 1] if i > 0 and j > 0 else np.inf
            D[i, j] = D[i, j] + min(up, left, diag)
    return D
'''),
    ],
    "ex3_prefix_dtw": [
        # A different function: one alignment of the whole future, read at frame h (no prefix loop).
        ("aligns the whole future once and reads true frame h (no prefix)", '''
def prefix_dtw_errors(cost, horizons):
    c = np.asarray(cost, dtype=np.float64)
    e = metrics_dtw.aligned_errors(c)
    return np.array([e[h - 1] for h in horizons])
'''),
        # A different function: the DTW total over h, without the per-true-frame averaging.
        ("the DTW total divided by h", '''
def prefix_dtw_errors(cost, horizons):
    c = np.asarray(cost, dtype=np.float64)
    return np.array([metrics_dtw.dtw(c[:h, :h])[0] / h for h in horizons])
'''),
        # A different function: the DTW total over the path length, without the per-true-frame averaging.
        ("the DTW total divided by the path length", '''
def prefix_dtw_errors(cost, horizons):
    c = np.asarray(cost, dtype=np.float64)
    out = []
    for h in horizons:
        total, path = metrics_dtw.dtw(c[:h, :h])
        out.append(total / len(path))
    return np.array(out)
'''),
        ("off by one: the window holds h + 1 frames", mutate(
            STEM, "ex3_prefix_dtw", ("for h in horizons:", "for h in horizons:\n        h = min(h + 1, c.shape[1])"))),
        ("averages per predicted frame (first index) instead of per true frame", mutate(
            STEM, "ex3_prefix_dtw",
            ("total[j] += c[i, j]\n            count[j] += 1", "total[i] += c[i, j]\n            count[i] += 1"))),
    ],
    "ex4_pa_mpjpe": [
        ("no reflection fix: R = V U^T may be a mirror", mutate(
            STEM, "ex4_pa_mpjpe", ("R = Vh.mT @ D @ U.mT", "R = Vh.mT @ U.mT"),
            ("(S * torch.diagonal(D, dim1=-2, dim2=-1)).sum(-1)", "S.sum(-1)"))),
        ("forgets to centre before the SVD (translation still solved afterwards)", mutate(
            STEM, "ex4_pa_mpjpe", ("p0, y0 = pred - mu_p, target - mu_y", "p0, y0 = pred, target"),
            (_ALIGNED, "aligned = s[..., None, None] * (p0 @ R.mT) + (mu_y - s[..., None, None] * (mu_p @ R.mT))"))),
        ("MPJPE averaged over the coordinates (absolute differences) instead of per-joint distances", mutate(
            STEM, "ex4_pa_mpjpe",
            ("return (aligned - target).norm(dim=-1).mean(-1)", "return (aligned - target).abs().mean((-2, -1))"))),
        ("scale normalised by the target's spread instead of the prediction's", mutate(
            STEM, "ex4_pa_mpjpe", ("/ (p0 ** 2).sum((-2, -1))", "/ (y0 ** 2).sum((-2, -1))"))),
        ("rotation applied transposed (p0 @ R instead of p0 @ R^T)", mutate(
            STEM, "ex4_pa_mpjpe", ("(p0 @ R.mT)", "(p0 @ R)"))),
        ("rigid alignment only: no scale", mutate(STEM, "ex4_pa_mpjpe", (_ALIGNED, "aligned = p0 @ R.mT + mu_y"))),
    ],
}
