"""Wrong answers that students really write, for notebooks/exercises/02_ups_unified_pose_sequence.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.

Every mutant below is the reference answer with exact texts replaced: ``mutate`` of
paperlib.tools.grading, which refuses an ``old`` text that does not occur exactly once.
"""
from paperlib.tools.grading import mutate

STEM = "02_ups_unified_pose_sequence"

_ROUND = "return torch.round(u * (n_bins - 1)).long()"
_CLIP = "u = ((c - lo) / (hi - lo)).clamp(0, 1)"
_DEQ = "return lo + b.to(lo.dtype) * (hi - lo) / (n_bins - 1)"
_ST = "return hard - soft.detach() + soft"
_EOT = "allowed[K - 1, vocab.task_eot[task]] = True"
_WRITE = "out[:, k] = torch.where(done, torch.full_like(t, -1), t)"
_DONE = "done = done | is_eot[t]"

MUTANTS = {
    "ex1_quantise": [
        ("floor instead of round: the error grows to a whole bin", mutate(
            STEM, "ex1_quantise", (_ROUND, "return torch.floor(u * (n_bins - 1)).long()"))),
        ("n_bins steps instead of n_bins - 1: the top of the range falls outside the bins", mutate(
            STEM, "ex1_quantise", (_ROUND, "return torch.round(u * n_bins).long()"))),
        ("bin width (hi - lo) / n_bins in de-quantisation: the last bin no longer sits at hi", mutate(
            STEM, "ex1_quantise", (_DEQ, "return lo + b.to(lo.dtype) * (hi - lo) / n_bins"))),
        ("no clipping: coordinates outside the range give bins below 0 or above n_bins - 1", mutate(
            STEM, "ex1_quantise", (_CLIP, "u = (c - lo) / (hi - lo)"))),
        ("float bins: the rounded value is never turned into an index", mutate(
            STEM, "ex1_quantise", (_ROUND, "return torch.round(u * (n_bins - 1))"))),
        ("the range's origin forgotten: c / (hi - lo) instead of (c - lo) / (hi - lo)", mutate(
            STEM, "ex1_quantise", (_CLIP, "u = (c / (hi - lo)).clamp(0, 1)"),
            (_DEQ, "return b.to(lo.dtype) * (hi - lo) / (n_bins - 1)"))),
    ],
    "ex2_route": [
        ("softmax over the layers instead of the blocks", mutate(
            STEM, "ex2_route", ("/ temperature).softmax(-1)", "/ temperature).softmax(-2)"))),
        ("a plain one-hot: no straight-through gradient reaches B and tau", mutate(
            STEM, "ex2_route", (_ST, "return hard"))),
        ("the soft sample returned: every block gets a share in the forward pass", mutate(
            STEM, "ex2_route", (_ST, "return soft"))),
        ("Gumbel noise with the wrong sign: log(-log u) added instead of subtracted", mutate(
            STEM, "ex2_route", ("s - torch.log(-torch.log(u))", "s + torch.log(-torch.log(u))"))),
        ("scores in (L, M, H) order: layers and tasks swapped", mutate(
            STEM, "ex2_route", ('"lhq,mq->mlh"', '"lhq,mq->lmh"'))),
        ("the forward pass takes the noise-free argmax: the route never explores", mutate(
            STEM, "ex2_route", ("F.one_hot(soft.argmax(-1)", "F.one_hot(s.argmax(-1)"))),
    ],
    "ex3_grammar": [
        ("the axis ignored: every bin allowed in every coordinate slot", mutate(
            STEM, "ex3_grammar",
            ("for k in range(K - 1):\n"
             "            first = int(vocab.bin0[k % 3])\n"
             "            allowed[k, first:first + vocab.n_bins] = True",
             "allowed[:K - 1, int(vocab.bin0[0]):int(vocab.bin0[2]) + vocab.n_bins] = True"))),
        ("the end token forgotten: the last position allows nothing", mutate(
            STEM, "ex3_grammar", ("    " + _EOT + "\n", ""))),
        ("the mask inverted: True where a token is forbidden", mutate(
            STEM, "ex3_grammar", ("return allowed", "return ~allowed"))),
        ("bins counted from 1: the slice is shifted by one token", mutate(
            STEM, "ex3_grammar",
            ("allowed[k, first:first + vocab.n_bins] = True", "allowed[k, first + 1:first + vocab.n_bins + 1] = True"))),
        ("every class allowed for every class task (2D and 3D classes mixed)", mutate(
            STEM, "ex3_grammar", ("allowed[0, vocab.class_token[task]] = True", "allowed[0, :vocab.n_cls] = True"))),
        ("EOT_AR for every class task: early prediction should end with EOT_AP", mutate(
            STEM, "ex3_grammar",
            (_EOT, 'allowed[K - 1, vocab.eot["pe"] if task == "pose3d" else vocab.eot["ar"]] = True'))),
    ],
    "ex4_greedy": [
        ("the mask inverted: only the forbidden tokens compete", mutate(
            STEM, "ex4_greedy", (".masked_fill(~allowed[", ".masked_fill(allowed["))),
        ("masked with 0 instead of -inf: a forbidden token beats negative allowed scores", mutate(
            STEM, "ex4_greedy", ('float("-inf"))', "0.0)"))),
        ("the end token forgotten: decoding goes on after EOT", mutate(
            STEM, "ex4_greedy", (_WRITE, "out[:, k] = t"))),
        ("done updated before writing: the end token itself becomes -1", mutate(
            STEM, "ex4_greedy", (_WRITE + "\n        " + _DONE, _DONE + "\n        " + _WRITE))),
        ("the whole batch stops at the first sample's EOT", mutate(
            STEM, "ex4_greedy",
            (_WRITE + "\n        " + _DONE, "out[:, k] = t\n        if bool(is_eot[t].any()):\n            break"))),
        ("row 0 of the grammar at every step", mutate(
            STEM, "ex4_greedy", ("~allowed[min(k, len(allowed) - 1)]", "~allowed[0]"))),
        ("the unmasked argmax fed back: the decoder continues from a token it never emitted", mutate(
            STEM, "ex4_greedy", ("lg = step(k, prev).masked_fill(", "raw = step(k, prev)\n        lg = raw.masked_fill("),
            ("prev = t", "prev = raw.argmax(-1)"))),
    ],
}
