"""Wrong answers that students really write, for notebooks/exercises/02_ups_unified_pose_sequence.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.
"""
_DEQ = '''
def dequantise(b, lo, hi, n_bins):
    return lo + b.to(lo.dtype) * (hi - lo) / (n_bins - 1)
'''
_Q = '''
def quantise(c, lo, hi, n_bins):
    u = ((c - lo) / (hi - lo)).clamp(0, 1)
    return torch.round(u * (n_bins - 1)).long()
'''

MUTANTS = {
    "ex1_quantise": [
        ("floor instead of round: the error grows to a whole bin", '''
def quantise(c, lo, hi, n_bins):
    u = ((c - lo) / (hi - lo)).clamp(0, 1)
    return torch.floor(u * (n_bins - 1)).long()
''' + _DEQ),
        ("n_bins steps instead of n_bins - 1: the top of the range falls outside the bins", '''
def quantise(c, lo, hi, n_bins):
    u = ((c - lo) / (hi - lo)).clamp(0, 1)
    return torch.round(u * n_bins).long()
''' + _DEQ),
        ("bin width (hi - lo) / n_bins in de-quantisation: the last bin no longer sits at hi", _Q + '''
def dequantise(b, lo, hi, n_bins):
    return lo + b.to(lo.dtype) * (hi - lo) / n_bins
'''),
        ("no clipping: coordinates outside the range give bins below 0 or above n_bins - 1", '''
def quantise(c, lo, hi, n_bins):
    u = (c - lo) / (hi - lo)
    return torch.round(u * (n_bins - 1)).long()
''' + _DEQ),
        ("float bins: the rounded value is never turned into an index", '''
def quantise(c, lo, hi, n_bins):
    u = ((c - lo) / (hi - lo)).clamp(0, 1)
    return torch.round(u * (n_bins - 1))
''' + _DEQ),
        ("the range's origin forgotten: c / (hi - lo) instead of (c - lo) / (hi - lo)", '''
def quantise(c, lo, hi, n_bins):
    u = (c / (hi - lo)).clamp(0, 1)
    return torch.round(u * (n_bins - 1)).long()

def dequantise(b, lo, hi, n_bins):
    return b.to(lo.dtype) * (hi - lo) / (n_bins - 1)
'''),
    ],
    "ex2_route": [
        ("softmax over the layers instead of the blocks", '''
def route(Bemb, tau, u, temperature=1.0):
    s = torch.einsum("lhq,mq->mlh", Bemb, tau)
    soft = ((s - torch.log(-torch.log(u))) / temperature).softmax(-2)
    hard = F.one_hot(soft.argmax(-1), s.shape[-1]).to(s.dtype)
    return hard - soft.detach() + soft
'''),
        ("a plain one-hot: no straight-through gradient reaches B and tau", '''
def route(Bemb, tau, u, temperature=1.0):
    s = torch.einsum("lhq,mq->mlh", Bemb, tau)
    return F.one_hot((s - torch.log(-torch.log(u))).argmax(-1), s.shape[-1]).float()
'''),
        ("the soft sample returned: every block gets a share in the forward pass", '''
def route(Bemb, tau, u, temperature=1.0):
    s = torch.einsum("lhq,mq->mlh", Bemb, tau)
    return ((s - torch.log(-torch.log(u))) / temperature).softmax(-1)
'''),
        ("Gumbel noise with the wrong sign: log(-log u) added instead of subtracted", '''
def route(Bemb, tau, u, temperature=1.0):
    s = torch.einsum("lhq,mq->mlh", Bemb, tau)
    soft = ((s + torch.log(-torch.log(u))) / temperature).softmax(-1)
    hard = F.one_hot(soft.argmax(-1), s.shape[-1]).to(s.dtype)
    return hard - soft.detach() + soft
'''),
        ("scores in (L, M, H) order: layers and tasks swapped", '''
def route(Bemb, tau, u, temperature=1.0):
    s = torch.einsum("lhq,mq->lmh", Bemb, tau)
    soft = ((s - torch.log(-torch.log(u))) / temperature).softmax(-1)
    hard = F.one_hot(soft.argmax(-1), s.shape[-1]).to(s.dtype)
    return hard - soft.detach() + soft
'''),
        ("the forward pass takes the noise-free argmax: the route never explores", '''
def route(Bemb, tau, u, temperature=1.0):
    s = torch.einsum("lhq,mq->mlh", Bemb, tau)
    soft = ((s - torch.log(-torch.log(u))) / temperature).softmax(-1)
    hard = F.one_hot(s.argmax(-1), s.shape[-1]).to(s.dtype)
    return hard - soft.detach() + soft
'''),
    ],
    "ex3_grammar": [
        ("the axis ignored: every bin allowed in every coordinate slot", '''
def grammar(task, vocab):
    K = vocab.max_len if task == "pose3d" else 2
    allowed = torch.zeros(K, vocab.V, dtype=torch.bool)
    if task == "pose3d":
        allowed[:K - 1, int(vocab.bin0[0]):int(vocab.bin0[2]) + vocab.n_bins] = True
    else:
        allowed[0, vocab.class_token[task]] = True
    allowed[K - 1, vocab.task_eot[task]] = True
    return allowed
'''),
        ("the end token forgotten: the last position allows nothing", '''
def grammar(task, vocab):
    K = vocab.max_len if task == "pose3d" else 2
    allowed = torch.zeros(K, vocab.V, dtype=torch.bool)
    if task == "pose3d":
        for k in range(K - 1):
            first = int(vocab.bin0[k % 3])
            allowed[k, first:first + vocab.n_bins] = True
    else:
        allowed[0, vocab.class_token[task]] = True
    return allowed
'''),
        ("the mask inverted: True where a token is forbidden", '''
def grammar(task, vocab):
    K = vocab.max_len if task == "pose3d" else 2
    forbidden = torch.ones(K, vocab.V, dtype=torch.bool)
    if task == "pose3d":
        for k in range(K - 1):
            first = int(vocab.bin0[k % 3])
            forbidden[k, first:first + vocab.n_bins] = False
    else:
        forbidden[0, vocab.class_token[task]] = False
    forbidden[K - 1, vocab.task_eot[task]] = False
    return forbidden
'''),
        ("bins counted from 1: the slice is shifted by one token", '''
def grammar(task, vocab):
    K = vocab.max_len if task == "pose3d" else 2
    allowed = torch.zeros(K, vocab.V, dtype=torch.bool)
    if task == "pose3d":
        for k in range(K - 1):
            first = int(vocab.bin0[k % 3])
            allowed[k, first + 1:first + vocab.n_bins + 1] = True
    else:
        allowed[0, vocab.class_token[task]] = True
    allowed[K - 1, vocab.task_eot[task]] = True
    return allowed
'''),
        ("every class allowed for every class task (2D and 3D classes mixed)", '''
def grammar(task, vocab):
    K = vocab.max_len if task == "pose3d" else 2
    allowed = torch.zeros(K, vocab.V, dtype=torch.bool)
    if task == "pose3d":
        for k in range(K - 1):
            first = int(vocab.bin0[k % 3])
            allowed[k, first:first + vocab.n_bins] = True
    else:
        allowed[0, :vocab.n_cls] = True
    allowed[K - 1, vocab.task_eot[task]] = True
    return allowed
'''),
        ("EOT_AR for every class task: early prediction should end with EOT_AP", '''
def grammar(task, vocab):
    K = vocab.max_len if task == "pose3d" else 2
    allowed = torch.zeros(K, vocab.V, dtype=torch.bool)
    if task == "pose3d":
        for k in range(K - 1):
            first = int(vocab.bin0[k % 3])
            allowed[k, first:first + vocab.n_bins] = True
        allowed[K - 1, vocab.eot["pe"]] = True
    else:
        allowed[0, vocab.class_token[task]] = True
        allowed[K - 1, vocab.eot["ar"]] = True
    return allowed
'''),
    ],
    "ex4_greedy": [
        ("the mask inverted: only the forbidden tokens compete", '''
def constrained_greedy(step, B, allowed, is_eot, max_len):
    out = torch.full((B, max_len), -1, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    prev = None
    for k in range(max_len):
        lg = step(k, prev).masked_fill(allowed[min(k, len(allowed) - 1)], float("-inf"))
        t = lg.argmax(-1)
        out[:, k] = torch.where(done, torch.full_like(t, -1), t)
        done = done | is_eot[t]
        prev = t
    return out
'''),
        ("masked with 0 instead of -inf: a forbidden token beats negative allowed scores", '''
def constrained_greedy(step, B, allowed, is_eot, max_len):
    out = torch.full((B, max_len), -1, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    prev = None
    for k in range(max_len):
        lg = step(k, prev).masked_fill(~allowed[min(k, len(allowed) - 1)], 0.0)
        t = lg.argmax(-1)
        out[:, k] = torch.where(done, torch.full_like(t, -1), t)
        done = done | is_eot[t]
        prev = t
    return out
'''),
        ("the end token forgotten: decoding goes on after EOT", '''
def constrained_greedy(step, B, allowed, is_eot, max_len):
    out = torch.full((B, max_len), -1, dtype=torch.long)
    prev = None
    for k in range(max_len):
        lg = step(k, prev).masked_fill(~allowed[min(k, len(allowed) - 1)], float("-inf"))
        out[:, k] = prev = lg.argmax(-1)
    return out
'''),
        ("done updated before writing: the end token itself becomes -1", '''
def constrained_greedy(step, B, allowed, is_eot, max_len):
    out = torch.full((B, max_len), -1, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    prev = None
    for k in range(max_len):
        lg = step(k, prev).masked_fill(~allowed[min(k, len(allowed) - 1)], float("-inf"))
        t = lg.argmax(-1)
        done = done | is_eot[t]
        out[:, k] = torch.where(done, torch.full_like(t, -1), t)
        prev = t
    return out
'''),
        ("the whole batch stops at the first sample's EOT", '''
def constrained_greedy(step, B, allowed, is_eot, max_len):
    out = torch.full((B, max_len), -1, dtype=torch.long)
    prev = None
    for k in range(max_len):
        lg = step(k, prev).masked_fill(~allowed[min(k, len(allowed) - 1)], float("-inf"))
        t = lg.argmax(-1)
        out[:, k] = t
        if bool(is_eot[t].any()):
            break
        prev = t
    return out
'''),
        ("row 0 of the grammar at every step", '''
def constrained_greedy(step, B, allowed, is_eot, max_len):
    out = torch.full((B, max_len), -1, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    prev = None
    for k in range(max_len):
        lg = step(k, prev).masked_fill(~allowed[0], float("-inf"))
        t = lg.argmax(-1)
        out[:, k] = torch.where(done, torch.full_like(t, -1), t)
        done = done | is_eot[t]
        prev = t
    return out
'''),
        ("the unmasked argmax fed back: the decoder continues from a token it never emitted", '''
def constrained_greedy(step, B, allowed, is_eot, max_len):
    out = torch.full((B, max_len), -1, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    prev = None
    for k in range(max_len):
        raw = step(k, prev)
        t = raw.masked_fill(~allowed[min(k, len(allowed) - 1)], float("-inf")).argmax(-1)
        out[:, k] = torch.where(done, torch.full_like(t, -1), t)
        done = done | is_eot[t]
        prev = raw.argmax(-1)
    return out
'''),
    ],
}
