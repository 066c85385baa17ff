"""Wrong answers that students really write, for notebooks/exercises/05_action_guided_motion_prediction.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.
"""
MUTANTS = {
    "ex1_query_read": [
        ("softmax over the batch axis instead of the items", '''
def query_read(q, keys, values, mask=None, tau=1.0):
    sim = torch.einsum("bc,bnc->bn", q, keys) * tau / math.sqrt(keys.shape[-1])
    if mask is not None:
        sim = sim.masked_fill(~mask, float("-inf"))
    attn = torch.softmax(sim, dim=0)
    return torch.einsum("bn,bnc->bc", attn, values), attn
'''),
        ("the paper's unscaled Eq. 3: no 1/sqrt(C_k)", '''
def query_read(q, keys, values, mask=None, tau=1.0):
    sim = torch.einsum("bc,bnc->bn", q, keys) * tau
    if mask is not None:
        sim = sim.masked_fill(~mask, float("-inf"))
    attn = torch.softmax(sim, dim=-1)
    return torch.einsum("bn,bnc->bc", attn, values), attn
'''),
        ("scaled by sqrt of the number of items N instead of the key width C_k", '''
def query_read(q, keys, values, mask=None, tau=1.0):
    sim = torch.einsum("bc,bnc->bn", q, keys) * tau / math.sqrt(keys.shape[1])
    if mask is not None:
        sim = sim.masked_fill(~mask, float("-inf"))
    attn = torch.softmax(sim, dim=-1)
    return torch.einsum("bn,bnc->bc", attn, values), attn
'''),
        ("padding logits set to 0 instead of -inf: padded items still get weight", '''
def query_read(q, keys, values, mask=None, tau=1.0):
    sim = torch.einsum("bc,bnc->bn", q, keys) * tau / math.sqrt(keys.shape[-1])
    if mask is not None:
        sim = sim.masked_fill(~mask, 0.0)
    attn = torch.softmax(sim, dim=-1)
    return torch.einsum("bn,bnc->bc", attn, values), attn
'''),
        ("mask applied after the softmax without renormalising", '''
def query_read(q, keys, values, mask=None, tau=1.0):
    sim = torch.einsum("bc,bnc->bn", q, keys) * tau / math.sqrt(keys.shape[-1])
    attn = torch.softmax(sim, dim=-1)
    if mask is not None:
        attn = attn * mask
    return torch.einsum("bn,bnc->bc", attn, values), attn
'''),
        ("temperature divides the logits instead of multiplying them", '''
def query_read(q, keys, values, mask=None, tau=1.0):
    sim = torch.einsum("bc,bnc->bn", q, keys) / tau / math.sqrt(keys.shape[-1])
    if mask is not None:
        sim = sim.masked_fill(~mask, float("-inf"))
    attn = torch.softmax(sim, dim=-1)
    return torch.einsum("bn,bnc->bc", attn, values), attn
'''),
        ("hard read: the value of the best item (argmax, no gradient to the query)", '''
def query_read(q, keys, values, mask=None, tau=1.0):
    sim = torch.einsum("bc,bnc->bn", q, keys) * tau / math.sqrt(keys.shape[-1])
    if mask is not None:
        sim = sim.masked_fill(~mask, float("-inf"))
    attn = torch.nn.functional.one_hot(sim.argmax(-1), sim.shape[-1]).to(q.dtype)
    return torch.einsum("bn,bnc->bc", attn, values), attn
'''),
    ],
    "ex2_dtw_accumulate": [
        ("no diagonal step: only up and left moves", '''
def dtw_accumulate(cost):
    c = np.asarray(cost, dtype=np.float64)
    n, m = c.shape
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(n):
        for j in range(m):
            D[i + 1, j + 1] = c[i, j] + min(D[i, j + 1], D[i + 1, j])
    return D[1:, 1:]
'''),
        ("first row and column left as raw costs (not accumulated)", '''
def dtw_accumulate(cost):
    D = np.array(cost, dtype=np.float64)
    n, m = D.shape
    for i in range(1, n):
        for j in range(1, m):
            D[i, j] = D[i, j] + min(D[i - 1, j], D[i, j - 1], D[i - 1, j - 1])
    return D
'''),
        ("zero border instead of infinite: a path may start anywhere for free", '''
def dtw_accumulate(cost):
    c = np.asarray(cost, dtype=np.float64)
    n, m = c.shape
    D = np.zeros((n + 1, m + 1))
    for i in range(n):
        for j in range(m):
            D[i + 1, j + 1] = c[i, j] + min(D[i, j + 1], D[i + 1, j], D[i, j])
    return D[1:, 1:]
'''),
        ("dtw-python's symmetric2 pattern: the diagonal step counts the cost twice", '''
def dtw_accumulate(cost):
    c = np.asarray(cost, dtype=np.float64)
    n, m = c.shape
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(n):
        for j in range(m):
            D[i + 1, j + 1] = min(D[i, j + 1] + c[i, j], D[i + 1, j] + c[i, j], D[i, j] + 2 * c[i, j])
    D[1, 1] = c[0, 0]
    return D[1:, 1:]
'''),
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
        ("aligns the whole future once and reads true frame h (no prefix)", '''
def prefix_dtw_errors(cost, horizons):
    c = np.asarray(cost, dtype=np.float64)
    e = metrics_dtw.aligned_errors(c)
    return np.array([e[h - 1] for h in horizons])
'''),
        ("the DTW total divided by h", '''
def prefix_dtw_errors(cost, horizons):
    c = np.asarray(cost, dtype=np.float64)
    return np.array([metrics_dtw.dtw(c[:h, :h])[0] / h for h in horizons])
'''),
        ("the DTW total divided by the path length", '''
def prefix_dtw_errors(cost, horizons):
    c = np.asarray(cost, dtype=np.float64)
    out = []
    for h in horizons:
        total, path = metrics_dtw.dtw(c[:h, :h])
        out.append(total / len(path))
    return np.array(out)
'''),
        ("off by one: the window holds h + 1 frames", '''
def prefix_dtw_errors(cost, horizons):
    c = np.asarray(cost, dtype=np.float64)
    out = []
    for h in horizons:
        sub = c[:h + 1, :h + 1]
        _, path = metrics_dtw.dtw(sub)
        k = sub.shape[1]
        total, count = np.zeros(k), np.zeros(k)
        for i, j in path:
            total[j] += sub[i, j]
            count[j] += 1
        out.append((total / count).mean())
    return np.array(out)
'''),
        ("averages per predicted frame (first index) instead of per true frame", '''
def prefix_dtw_errors(cost, horizons):
    c = np.asarray(cost, dtype=np.float64)
    out = []
    for h in horizons:
        _, path = metrics_dtw.dtw(c[:h, :h])
        total, count = np.zeros(h), np.zeros(h)
        for i, j in path:
            total[i] += c[i, j]
            count[i] += 1
        out.append((total / count).mean())
    return np.array(out)
'''),
    ],
    "ex4_pa_mpjpe": [
        ("no reflection fix: R = V U^T may be a mirror", '''
def pa_mpjpe(pred, target):
    mu_p, mu_y = pred.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    p0, y0 = pred - mu_p, target - mu_y
    U, S, Vh = torch.linalg.svd(p0.mT @ y0)
    R = Vh.mT @ U.mT
    s = S.sum(-1) / (p0 ** 2).sum((-2, -1))
    aligned = s[..., None, None] * (p0 @ R.mT) + mu_y
    return (aligned - target).norm(dim=-1).mean(-1)
'''),
        ("forgets to centre before the SVD (translation still solved afterwards)", '''
def pa_mpjpe(pred, target):
    mu_p, mu_y = pred.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    U, S, Vh = torch.linalg.svd(pred.mT @ target)
    d = torch.sign(torch.linalg.det(Vh.mT @ U.mT))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.mT @ D @ U.mT
    s = (S * torch.diagonal(D, dim1=-2, dim2=-1)).sum(-1) / (pred ** 2).sum((-2, -1))
    aligned = s[..., None, None] * (pred @ R.mT) + (mu_y - s[..., None, None] * (mu_p @ R.mT))
    return (aligned - target).norm(dim=-1).mean(-1)
'''),
        ("MPJPE averaged over the coordinates (absolute differences) instead of per-joint distances", '''
def pa_mpjpe(pred, target):
    mu_p, mu_y = pred.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    p0, y0 = pred - mu_p, target - mu_y
    U, S, Vh = torch.linalg.svd(p0.mT @ y0)
    d = torch.sign(torch.linalg.det(Vh.mT @ U.mT))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.mT @ D @ U.mT
    s = (S * torch.diagonal(D, dim1=-2, dim2=-1)).sum(-1) / (p0 ** 2).sum((-2, -1))
    aligned = s[..., None, None] * (p0 @ R.mT) + mu_y
    return (aligned - target).abs().mean((-2, -1))
'''),
        ("scale normalised by the target's spread instead of the prediction's", '''
def pa_mpjpe(pred, target):
    mu_p, mu_y = pred.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    p0, y0 = pred - mu_p, target - mu_y
    U, S, Vh = torch.linalg.svd(p0.mT @ y0)
    d = torch.sign(torch.linalg.det(Vh.mT @ U.mT))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.mT @ D @ U.mT
    s = (S * torch.diagonal(D, dim1=-2, dim2=-1)).sum(-1) / (y0 ** 2).sum((-2, -1))
    aligned = s[..., None, None] * (p0 @ R.mT) + mu_y
    return (aligned - target).norm(dim=-1).mean(-1)
'''),
        ("rotation applied transposed (p0 @ R instead of p0 @ R^T)", '''
def pa_mpjpe(pred, target):
    mu_p, mu_y = pred.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    p0, y0 = pred - mu_p, target - mu_y
    U, S, Vh = torch.linalg.svd(p0.mT @ y0)
    d = torch.sign(torch.linalg.det(Vh.mT @ U.mT))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.mT @ D @ U.mT
    s = (S * torch.diagonal(D, dim1=-2, dim2=-1)).sum(-1) / (p0 ** 2).sum((-2, -1))
    aligned = s[..., None, None] * (p0 @ R) + mu_y
    return (aligned - target).norm(dim=-1).mean(-1)
'''),
        ("rigid alignment only: no scale", '''
def pa_mpjpe(pred, target):
    mu_p, mu_y = pred.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    p0, y0 = pred - mu_p, target - mu_y
    U, S, Vh = torch.linalg.svd(p0.mT @ y0)
    d = torch.sign(torch.linalg.det(Vh.mT @ U.mT))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.mT @ D @ U.mT
    aligned = p0 @ R.mT + mu_y
    return (aligned - target).norm(dim=-1).mean(-1)
'''),
    ],
}
