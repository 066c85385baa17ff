"""Wrong answers that students really write, for notebooks/exercises/01_era_early_action_prediction.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.

The argmax without a gradient is a different function and keeps its whole source; every other
mutant is its mistake written as an edit of the reference answer (paperlib.tools.grading.mutate).
"""
from paperlib.tools.grading import mutate

STEM = "01_era_early_action_prediction"

_POOLED = "pooled = total / (lengths.to(x.dtype)[:, None] * V)"
_RETURN_ST = "return y_hard + (y_soft - y_soft.detach())"
_Y_SOFT = "y_soft = F.gumbel_softmax(scores, tau=tau, hard=False, dim=-1)"
_W_EXPERT = 'w_expert = torch.einsum("bpm,pm...->bp...", r, experts)'

MUTANTS = {
    "ex1_masked_query": [
        ("mean over every frame: the padding is counted", mutate(
            STEM, "ex1_masked_query", (_POOLED, "pooled = x.mean(dim=(2, 3))"))),
        ("padding zeroed but still counted in the denominator (divides by T V)", mutate(
            STEM, "ex1_masked_query", (_POOLED, "pooled = (x * mask[:, None, :, None]).mean(dim=(2, 3))"))),
        ("off by one: frame t = L_b (the first padded frame) is included", mutate(
            STEM, "ex1_masked_query", ("< lengths[:, None]", "<= lengths[:, None]"),
            (_POOLED, "pooled = total / (mask.sum(1, keepdim=True) * V)"))),
        ("joints summed, not averaged (divides by L_b only)", mutate(
            STEM, "ex1_masked_query", (_POOLED, "pooled = total / lengths.to(x.dtype)[:, None]"))),
        ("banks interleaved: the output read as (K, d) and transposed", mutate(
            STEM, "ex1_masked_query", ("return f(pooled).view(B, d, -1)", "return f(pooled).view(B, -1, d).transpose(1, 2)"))),
    ],
    "ex2_straight_through": [
        ("F.gumbel_softmax(hard=True): the forward pass is the argmax of the noisy scores", mutate(
            STEM, "ex2_straight_through",
            (_Y_SOFT, "y_soft = F.gumbel_softmax(scores, tau=tau, hard=True, dim=-1)"), (_RETURN_ST, "return y_soft"))),
        # A different function: no Gumbel sample at all (the reference edited to `return y_hard`
        # would still draw the noise, and so shift the random numbers of the tests after it).
        ("argmax without a gradient", '''
def straight_through_gumbel(scores, tau=1.0):
    return F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)
'''),
        ("softmax over the wrong axis", mutate(
            STEM, "ex2_straight_through", (_Y_SOFT, "y_soft = F.gumbel_softmax(scores, tau=tau, hard=False, dim=0)"))),
        ("temperature forgotten (always tau = 1)", mutate(
            STEM, "ex2_straight_through", (_Y_SOFT, "y_soft = F.gumbel_softmax(scores, hard=False, dim=-1)"))),
        ("plain softmax: no Gumbel noise in the backward pass", mutate(
            STEM, "ex2_straight_through",
            (_Y_SOFT, "y_soft = F.softmax(scores / tau, dim=-1)"))),
        ("the relaxed sample returned: the forward pass is not one-hot", mutate(
            STEM, "ex2_straight_through", (_RETURN_ST, "return y_soft"))),
    ],
    "ex3_assemble": [
        ("Eq. 5 reversed: experts first, then the non-experts", mutate(
            STEM, "ex3_assemble", ("torch.cat([w_non, w_expert], dim=1)", "torch.cat([w_expert, w_non], dim=1)"))),
        ("an index lookup with argmax: right values, no gradient into r", mutate(
            STEM, "ex3_assemble",
            (_W_EXPERT, "idx = r.argmax(-1)\n    w_expert = experts[torch.arange(experts.shape[0])[None, :], idx]"))),
        ("the bank's experts averaged, r ignored (Expert-Avg)", mutate(
            STEM, "ex3_assemble",
            (_W_EXPERT, "w_expert = experts.mean(1).unsqueeze(0).expand(r.shape[0], *experts.shape[:1], *experts.shape[2:])"))),
        ("the first sample's retrieval used for the whole batch", mutate(
            STEM, "ex3_assemble",
            (_W_EXPERT, 'w_expert = torch.einsum("pm,pm...->p...", r[0], experts)\n'
                        "    w_expert = w_expert.unsqueeze(0).expand(r.shape[0], *w_expert.shape)"))),
    ],
    "ex4_similarity": [
        ("the minus sign of the objective put into L_s", mutate(
            STEM, "ex4_similarity", ("return dist.sum()", "return -dist.sum()"))),
        ("the i = j pairs counted in the mean (divides by d M M)", mutate(
            STEM, "ex4_similarity", ("return dist.sum() / (d * M * (M - 1))", "return dist.mean()"))),
        ("experts of different banks compared too", mutate(
            STEM, "ex4_similarity", ("e = experts.flatten(2)", "e = experts.flatten(2).reshape(1, d * M, -1)"),
            ("dist.sum() / (d * M * (M - 1))", "dist.sum() / (d * M * (d * M - 1))"))),
        ("distance, not squared distance", mutate(
            STEM, "ex4_similarity", (".pow(2).sum(-1)", ".norm(dim=-1)"))),
        ("normalised over each input channel instead of the whole kernel", mutate(
            STEM, "ex4_similarity",
            ("e = e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)",
             "e = (experts.flatten(3) / experts.flatten(3).norm(dim=-1, keepdim=True)).flatten(2)"))),
    ],
}
