"""Wrong answers that students really write, for notebooks/exercises/00_skeleton_sequences.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.

Most mutants here are the reference with one mistake, written as that mistake with ``mutate``
(paperlib.tools.grading); the index-order kinematics and the subsample-first crop are different
functions and keep their whole source.
"""
from paperlib.tools.grading import mutate

STEM = "00_skeleton_sequences"

MUTANTS = {
    "ex1_forward_kinematics": [
        ("the offset is turned by the joint's own rotation R_j instead of its parent's", mutate(
            STEM, "ex1_forward_kinematics", ("(R[p] @ offsets[j, :, None])", "(R[j] @ offsets[j, :, None])"))),
        ("global rotation composed in the wrong order: r_j R_p(j)", mutate(
            STEM, "ex1_forward_kinematics",
            ("R[j] = R[p] @ local_rot[..., j, :, :]", "R[j] = local_rot[..., j, :, :] @ R[p]"))),
        ("the parent's local rotation instead of its accumulated global rotation", mutate(
            STEM, "ex1_forward_kinematics",
            ("(R[p] @ offsets[j, :, None])", "(local_rot[..., p, :, :] @ offsets[j, :, None])"))),
        # A different function: preallocated tensors written in place, so that visiting the joints
        # in index order silently reads a parent that is still zero (the reference's lists would
        # crash on None instead of giving wrong positions).
        ("joints visited in index order: the neck (2) is computed before its parent (20)", '''
def fk(local_rot, offsets, parents):
    V = len(parents)
    offsets = offsets.to(local_rot.dtype)
    lead = local_rot.shape[:-3]
    R = torch.zeros(lead + (V, 3, 3), dtype=local_rot.dtype)
    x = torch.zeros(lead + (V, 3), dtype=local_rot.dtype)
    for j in range(V):
        p = parents[j]
        if p < 0:
            R[..., j, :, :] = local_rot[..., j, :, :]
            x[..., j, :] = offsets[j]
        else:
            R[..., j, :, :] = R[..., p, :, :] @ local_rot[..., j, :, :]
            x[..., j, :] = x[..., p, :] + (R[..., p, :, :] @ offsets[j, :, None])[..., 0]
    return x
'''),
        ("offsets added without rotation", mutate(
            STEM, "ex1_forward_kinematics",
            ("x[j] = x[p] + (R[p] @ offsets[j, :, None])[..., 0]", "x[j] = x[p] + offsets[j]"))),
    ],
    "ex2_partition_adjacency": [
        ("row normalisation (A Lambda^-1 with row sums): a joint's outgoing weights sum to 1", mutate(
            STEM, "ex2_partition_adjacency", ("deg = A.sum(0)", "deg = A.sum(1)"), ("[None, :]", "[:, None]"))),
        ("ST-GCN's whole-neighbourhood normalisation (self + in + out together), then split", mutate(
            STEM, "ex2_partition_adjacency",
            ("return np.stack([np.eye(V), norm(A_in), norm(A_out)])",
             "parts = np.stack([np.eye(V), A_in, A_out])\n    return parts / parts.sum((0, 1))[None, None, :]"))),
        ("centripetal and centrifugal swapped (A_in[far, near] = 1)", mutate(
            STEM, "ex2_partition_adjacency", ("A_in[near, far] = 1.0", "A_in[far, near] = 1.0"))),
        ("no normalisation: a joint sums its neighbours instead of averaging them", mutate(
            STEM, "ex2_partition_adjacency",
            ("return np.stack([np.eye(V), norm(A_in), norm(A_out)])", "return np.stack([np.eye(V), A_in, A_out])"))),
        ("symmetric normalisation Lambda^-1/2 A Lambda^-1/2 instead of the per-partition column mean", mutate(
            STEM, "ex2_partition_adjacency",
            ("return A / np.where(deg > 0, deg, 1.0)[None, :]",
             "d = np.where(deg > 0, deg, 1.0) ** -0.5\n        return d[:, None] * A * d[None, :]"))),
    ],
    "ex3_crop_then_subsample": [
        # A different function: subsampling before cropping reorders the whole computation (the
        # prefix length is counted on the subsampled frames).
        ("subsample first, then crop the subsampled sequence: kept frames past the prefix (the leak)", '''
def observe_subsampled(joints, valid_frames, ratio, frames):
    N, M, T, V, C = joints.shape
    stride = T // frames
    x = joints[:, :, ::stride][:, :, :frames].copy()
    valid = np.minimum(-(-np.asarray(valid_frames) // stride), frames)
    L = np.maximum(np.ceil(ratio * valid - 1e-9).astype(np.int64), 1)
    x = x * (np.arange(frames)[None, :] < L[:, None])[:, None, :, None, None]
    return x, L.astype(np.int64)
'''),
        ("no guard against float round-up: ceil(0.1 * 3 * 10) = 4", mutate(
            STEM, "ex3_crop_then_subsample",
            ("np.ceil(ratio * np.asarray(valid_frames) - 1e-9)", "np.ceil(ratio * np.asarray(valid_frames))"))),
        ("the ratio of the padded length T instead of the valid frames", mutate(
            STEM, "ex3_crop_then_subsample", ("ratio * np.asarray(valid_frames)", "ratio * np.full(N, T)"))),
        ("floor instead of ceil: one observed frame too few", mutate(
            STEM, "ex3_crop_then_subsample",
            ("np.ceil(ratio * np.asarray(valid_frames) - 1e-9)", "np.floor(ratio * np.asarray(valid_frames))"))),
        ("mask t <= L: one frame past the prefix", mutate(
            STEM, "ex3_crop_then_subsample", ("np.arange(T)[None, :] < L[:, None]", "np.arange(T)[None, :] <= L[:, None]"))),
        ("zeroes the input in place", mutate(
            STEM, "ex3_crop_then_subsample",
            ("x = joints * mask[:, None, :, None, None]", "joints *= mask[:, None, :, None, None]\n    x = joints"))),
        ("observed frames counted at full resolution (L) instead of after subsampling", mutate(
            STEM, "ex3_crop_then_subsample", ("return x, observed", "return x, L"))),
    ],
}
