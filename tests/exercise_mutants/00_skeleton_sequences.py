"""Wrong answers that students really write, for notebooks/exercises/00_skeleton_sequences.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.
"""
MUTANTS = {
    "ex1_forward_kinematics": [
        ("the offset is turned by the joint's own rotation R_j instead of its parent's", '''
def fk(local_rot, offsets, parents):
    V = len(parents)
    offsets = offsets.to(local_rot.dtype)
    R, x = [None] * V, [None] * V
    for j in tree_order(parents):
        p = parents[j]
        if p < 0:
            R[j] = local_rot[..., j, :, :]
            x[j] = offsets[j].expand(local_rot.shape[:-3] + (3,))
        else:
            R[j] = R[p] @ local_rot[..., j, :, :]
            x[j] = x[p] + (R[j] @ offsets[j, :, None])[..., 0]
    return torch.stack(x, -2)
'''),
        ("global rotation composed in the wrong order: r_j R_p(j)", '''
def fk(local_rot, offsets, parents):
    V = len(parents)
    offsets = offsets.to(local_rot.dtype)
    R, x = [None] * V, [None] * V
    for j in tree_order(parents):
        p = parents[j]
        if p < 0:
            R[j] = local_rot[..., j, :, :]
            x[j] = offsets[j].expand(local_rot.shape[:-3] + (3,))
        else:
            R[j] = local_rot[..., j, :, :] @ R[p]
            x[j] = x[p] + (R[p] @ offsets[j, :, None])[..., 0]
    return torch.stack(x, -2)
'''),
        ("the parent's local rotation instead of its accumulated global rotation", '''
def fk(local_rot, offsets, parents):
    V = len(parents)
    offsets = offsets.to(local_rot.dtype)
    x = [None] * V
    for j in tree_order(parents):
        p = parents[j]
        if p < 0:
            x[j] = offsets[j].expand(local_rot.shape[:-3] + (3,))
        else:
            x[j] = x[p] + (local_rot[..., p, :, :] @ offsets[j, :, None])[..., 0]
    return torch.stack(x, -2)
'''),
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
        ("offsets added without rotation", '''
def fk(local_rot, offsets, parents):
    V = len(parents)
    offsets = offsets.to(local_rot.dtype)
    x = [None] * V
    for j in tree_order(parents):
        p = parents[j]
        base = offsets[j].expand(local_rot.shape[:-3] + (3,))
        x[j] = base if p < 0 else x[p] + base
    return torch.stack(x, -2)
'''),
    ],
    "ex2_partition_adjacency": [
        ("row normalisation (A Lambda^-1 with row sums): a joint's outgoing weights sum to 1", '''
def partition_adjacency(num_joints, inward):
    V = num_joints
    A_in = np.zeros((V, V))
    for far, near in inward:
        A_in[near, far] = 1.0
    A_out = A_in.T.copy()
    def norm(A):
        deg = A.sum(1)
        return A / np.where(deg > 0, deg, 1.0)[:, None]
    return np.stack([np.eye(V), norm(A_in), norm(A_out)])
'''),
        ("ST-GCN's whole-neighbourhood normalisation (self + in + out together), then split", '''
def partition_adjacency(num_joints, inward):
    V = num_joints
    A_in = np.zeros((V, V))
    for far, near in inward:
        A_in[near, far] = 1.0
    parts = np.stack([np.eye(V), A_in, A_in.T])
    deg = parts.sum((0, 1))
    return parts / deg[None, None, :]
'''),
        ("centripetal and centrifugal swapped (A_in[far, near] = 1)", '''
def partition_adjacency(num_joints, inward):
    V = num_joints
    A_in = np.zeros((V, V))
    for far, near in inward:
        A_in[far, near] = 1.0
    A_out = A_in.T.copy()
    def norm(A):
        deg = A.sum(0)
        return A / np.where(deg > 0, deg, 1.0)[None, :]
    return np.stack([np.eye(V), norm(A_in), norm(A_out)])
'''),
        ("no normalisation: a joint sums its neighbours instead of averaging them", '''
def partition_adjacency(num_joints, inward):
    V = num_joints
    A_in = np.zeros((V, V))
    for far, near in inward:
        A_in[near, far] = 1.0
    return np.stack([np.eye(V), A_in, A_in.T])
'''),
        ("symmetric normalisation Lambda^-1/2 A Lambda^-1/2 instead of the per-partition column mean", '''
def partition_adjacency(num_joints, inward):
    V = num_joints
    A_in = np.zeros((V, V))
    for far, near in inward:
        A_in[near, far] = 1.0
    A_out = A_in.T.copy()
    def norm(A):
        deg = A.sum(0)
        d = np.where(deg > 0, deg, 1.0) ** -0.5
        return d[:, None] * A * d[None, :]
    return np.stack([np.eye(V), norm(A_in), norm(A_out)])
'''),
    ],
    "ex3_crop_then_subsample": [
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
        ("no guard against float round-up: ceil(0.1 * 3 * 10) = 4", '''
def observe_subsampled(joints, valid_frames, ratio, frames):
    N, M, T, V, C = joints.shape
    L = np.maximum(np.ceil(ratio * np.asarray(valid_frames)).astype(np.int64), 1)
    x = joints * (np.arange(T)[None, :] < L[:, None])[:, None, :, None, None]
    stride = T // frames
    return x[:, :, ::stride][:, :, :frames], np.minimum(-(-L // stride), frames).astype(np.int64)
'''),
        ("the ratio of the padded length T instead of the valid frames", '''
def observe_subsampled(joints, valid_frames, ratio, frames):
    N, M, T, V, C = joints.shape
    L = np.full(N, max(int(np.ceil(ratio * T - 1e-9)), 1), dtype=np.int64)
    x = joints * (np.arange(T)[None, :] < L[:, None])[:, None, :, None, None]
    stride = T // frames
    return x[:, :, ::stride][:, :, :frames], np.minimum(-(-L // stride), frames).astype(np.int64)
'''),
        ("floor instead of ceil: one observed frame too few", '''
def observe_subsampled(joints, valid_frames, ratio, frames):
    N, M, T, V, C = joints.shape
    L = np.maximum(np.floor(ratio * np.asarray(valid_frames)).astype(np.int64), 1)
    x = joints * (np.arange(T)[None, :] < L[:, None])[:, None, :, None, None]
    stride = T // frames
    return x[:, :, ::stride][:, :, :frames], np.minimum(-(-L // stride), frames).astype(np.int64)
'''),
        ("mask t <= L: one frame past the prefix", '''
def observe_subsampled(joints, valid_frames, ratio, frames):
    N, M, T, V, C = joints.shape
    L = np.maximum(np.ceil(ratio * np.asarray(valid_frames) - 1e-9).astype(np.int64), 1)
    x = joints * (np.arange(T)[None, :] <= L[:, None])[:, None, :, None, None]
    stride = T // frames
    return x[:, :, ::stride][:, :, :frames], np.minimum(-(-L // stride), frames).astype(np.int64)
'''),
        ("zeroes the input in place", '''
def observe_subsampled(joints, valid_frames, ratio, frames):
    N, M, T, V, C = joints.shape
    L = np.maximum(np.ceil(ratio * np.asarray(valid_frames) - 1e-9).astype(np.int64), 1)
    joints *= (np.arange(T)[None, :] < L[:, None])[:, None, :, None, None]
    stride = T // frames
    return joints[:, :, ::stride][:, :, :frames], np.minimum(-(-L // stride), frames).astype(np.int64)
'''),
        ("observed frames counted at full resolution (L) instead of after subsampling", '''
def observe_subsampled(joints, valid_frames, ratio, frames):
    N, M, T, V, C = joints.shape
    L = np.maximum(np.ceil(ratio * np.asarray(valid_frames) - 1e-9).astype(np.int64), 1)
    x = joints * (np.arange(T)[None, :] < L[:, None])[:, None, :, None, None]
    stride = T // frames
    return x[:, :, ::stride][:, :, :frames], L
'''),
    ],
}
