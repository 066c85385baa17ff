"""Wrong answers that students really write, for notebooks/exercises/01_era_early_action_prediction.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.
"""
MUTANTS = {
    "ex1_masked_query": [
        ("mean over every frame: the padding is counted", '''
def masked_query(x, lengths, f, d):
    return f(x.mean(dim=(2, 3))).view(x.shape[0], d, -1)
'''),
        ("padding zeroed but still counted in the denominator (divides by T V)", '''
def masked_query(x, lengths, f, d):
    B, _, T, V = x.shape
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(x.dtype)
    return f((x * mask[:, None, :, None]).mean(dim=(2, 3))).view(B, d, -1)
'''),
        ("off by one: frame t = L_b (the first padded frame) is included", '''
def masked_query(x, lengths, f, d):
    B, _, T, V = x.shape
    mask = (torch.arange(T)[None, :] <= lengths[:, None]).to(x.dtype)
    pooled = (x * mask[:, None, :, None]).sum(dim=(2, 3)) / (mask.sum(1, keepdim=True) * V)
    return f(pooled).view(B, d, -1)
'''),
        ("joints summed, not averaged (divides by L_b only)", '''
def masked_query(x, lengths, f, d):
    B, _, T, V = x.shape
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(x.dtype)
    pooled = (x * mask[:, None, :, None]).sum(dim=(2, 3)) / lengths.to(x.dtype)[:, None]
    return f(pooled).view(B, d, -1)
'''),
        ("banks interleaved: the output read as (K, d) and transposed", '''
def masked_query(x, lengths, f, d):
    B, _, T, V = x.shape
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(x.dtype)
    pooled = (x * mask[:, None, :, None]).sum(dim=(2, 3)) / (lengths.to(x.dtype)[:, None] * V)
    return f(pooled).view(B, -1, d).transpose(1, 2)
'''),
    ],
    "ex2_straight_through": [
        ("F.gumbel_softmax(hard=True): the forward pass is the argmax of the noisy scores", '''
def straight_through_gumbel(scores, tau=1.0):
    return F.gumbel_softmax(scores, tau=tau, hard=True, dim=-1)
'''),
        ("argmax without a gradient", '''
def straight_through_gumbel(scores, tau=1.0):
    return F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)
'''),
        ("softmax over the wrong axis", '''
def straight_through_gumbel(scores, tau=1.0):
    y_soft = F.gumbel_softmax(scores, tau=tau, hard=False, dim=0)
    y_hard = F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)
    return y_hard + (y_soft - y_soft.detach())
'''),
        ("temperature forgotten (always tau = 1)", '''
def straight_through_gumbel(scores, tau=1.0):
    y_soft = F.gumbel_softmax(scores, hard=False, dim=-1)
    y_hard = F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)
    return y_hard + (y_soft - y_soft.detach())
'''),
        ("plain softmax: no Gumbel noise in the backward pass", '''
def straight_through_gumbel(scores, tau=1.0):
    y_soft = F.softmax(scores / tau, dim=-1)
    y_hard = F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)
    return y_hard + (y_soft - y_soft.detach())
'''),
        ("the relaxed sample returned: the forward pass is not one-hot", '''
def straight_through_gumbel(scores, tau=1.0):
    return F.gumbel_softmax(scores, tau=tau, hard=False, dim=-1)
'''),
    ],
    "ex3_assemble": [
        ("Eq. 5 reversed: experts first, then the non-experts", '''
def assemble(r, nonexpert, experts):
    w_expert = torch.einsum("bpm,pm...->bp...", r, experts)
    w_non = nonexpert.unsqueeze(0).expand(r.shape[0], *nonexpert.shape)
    return torch.cat([w_expert, w_non], dim=1)
'''),
        ("an index lookup with argmax: right values, no gradient into r", '''
def assemble(r, nonexpert, experts):
    idx = r.argmax(-1)                                                  # [B, d]
    w_expert = experts[torch.arange(experts.shape[0])[None, :], idx]    # [B, d, N_in, *k]
    w_non = nonexpert.unsqueeze(0).expand(r.shape[0], *nonexpert.shape)
    return torch.cat([w_non, w_expert], dim=1)
'''),
        ("the bank's experts averaged, r ignored (Expert-Avg)", '''
def assemble(r, nonexpert, experts):
    w_expert = experts.mean(1).unsqueeze(0).expand(r.shape[0], *experts.shape[:1], *experts.shape[2:])
    w_non = nonexpert.unsqueeze(0).expand(r.shape[0], *nonexpert.shape)
    return torch.cat([w_non, w_expert], dim=1)
'''),
        ("the first sample's retrieval used for the whole batch", '''
def assemble(r, nonexpert, experts):
    w_expert = torch.einsum("pm,pm...->p...", r[0], experts)
    w_expert = w_expert.unsqueeze(0).expand(r.shape[0], *w_expert.shape)
    w_non = nonexpert.unsqueeze(0).expand(r.shape[0], *nonexpert.shape)
    return torch.cat([w_non, w_expert], dim=1)
'''),
    ],
    "ex4_similarity": [
        ("the minus sign of the objective put into L_s", '''
def expert_similarity(experts, normalize=True):
    d, M = experts.shape[:2]
    e = experts.flatten(2)
    if normalize:
        e = e / e.norm(dim=-1, keepdim=True)
    return -(e.unsqueeze(1) - e.unsqueeze(2)).pow(2).sum(-1).sum() / (d * M * (M - 1))
'''),
        ("the i = j pairs counted in the mean (divides by d M M)", '''
def expert_similarity(experts, normalize=True):
    d, M = experts.shape[:2]
    e = experts.flatten(2)
    if normalize:
        e = e / e.norm(dim=-1, keepdim=True)
    return (e.unsqueeze(1) - e.unsqueeze(2)).pow(2).sum(-1).mean()
'''),
        ("experts of different banks compared too", '''
def expert_similarity(experts, normalize=True):
    e = experts.flatten(2).flatten(0, 1)                                # [d M, D]
    if normalize:
        e = e / e.norm(dim=-1, keepdim=True)
    n = e.shape[0]
    return (e.unsqueeze(0) - e.unsqueeze(1)).pow(2).sum(-1).sum() / (n * (n - 1))
'''),
        ("distance, not squared distance", '''
def expert_similarity(experts, normalize=True):
    d, M = experts.shape[:2]
    e = experts.flatten(2)
    if normalize:
        e = e / e.norm(dim=-1, keepdim=True)
    return (e.unsqueeze(1) - e.unsqueeze(2)).norm(dim=-1).sum() / (d * M * (M - 1))
'''),
        ("normalised over each input channel instead of the whole kernel", '''
def expert_similarity(experts, normalize=True):
    d, M = experts.shape[:2]
    e = experts.flatten(3)                                              # [d, M, N_in, taps]
    if normalize:
        e = e / e.norm(dim=-1, keepdim=True)
    e = e.flatten(2)
    return (e.unsqueeze(1) - e.unsqueeze(2)).pow(2).sum(-1).sum() / (d * M * (M - 1))
'''),
    ],
}
