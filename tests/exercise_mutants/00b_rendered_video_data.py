"""Wrong answers that students really write, for notebooks/exercises/00b_rendered_video_data.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.
"""
_DEPTH = '''
def capsule_depth(a, b, z_a, z_b, r, rho, height, width):
    a = np.asarray(a, np.float64)
    ab = np.asarray(b, np.float64) - a
    py, px = np.mgrid[0:height, 0:width] + {half}
    p = np.stack([px, py], -1)
    s = ((p - a) * ab).sum(-1) / max((ab ** 2).sum(), 1e-12)
    t = {t}
    d2 = ((p - a - t[..., None] * ab) ** 2).sum(-1)
    z = {z}
    return np.where(d2 < r ** 2, z, np.inf)
'''
_Z = "z_a + t * (z_b - z_a) - rho * (1.0 - d2 / r ** 2)"
_T = "np.clip(s, 0.0, 1.0)"

_ZBUF = '''
def zbuffer(depths, colors, background):
    depths = np.asarray(depths)
    colors = np.asarray(colors)
{body}
    covered = np.isfinite(depth)
    rgb = np.take_along_axis(colors, k[None, ..., None], axis=0)[0]
    rgb = np.where(covered[..., None], rgb, np.asarray(background)).astype(colors.dtype)
    return rgb, depth, {layer}
'''
_ARGMIN = "    k = np.argmin(depths, axis=0)\n    depth = np.take_along_axis(depths, k[None], axis=0)[0]"

_ROWS = '''
def ava_rows(video_id, timestamp, boxes, present, labels, width, height):
    norm = {norm}
    rows = []
    for p in range(len(present)):
        if {skip}:
            continue
        for c in np.flatnonzero(labels[p]):
            rows.append((video_id, timestamp, *map(float, norm[p]), {action}, {pid}))
    return rows
'''
_NORM = "np.clip(np.asarray(boxes, np.float64) / np.array([width, height, width, height]), 0.0, 1.0)"
_OK = dict(norm=_NORM, skip="not present[p]", action="int(c) + 1", pid="p")

MUTANTS = {
    "ex1_capsule_depth": [
        ("pixel corners (j, i) instead of pixel centres (j + 0.5, i + 0.5)", _DEPTH.format(half="0.0", t=_T, z=_Z)),
        ("t not clamped: an infinite cylinder instead of a capsule with round caps", _DEPTH.format(half="0.5", t="s", z=_Z)),
        ("the exact circular bulge rho sqrt(1 - d^2/r^2) instead of the renderer's parabola",
         _DEPTH.format(half="0.5", t=_T, z="z_a + t * (z_b - z_a) - rho * np.sqrt(np.clip(1.0 - d2 / r ** 2, 0, None))")),
        ("the bulge added: the back of the tube instead of its front",
         _DEPTH.format(half="0.5", t=_T, z="z_a + t * (z_b - z_a) + rho * (1.0 - d2 / r ** 2)")),
        ("d / r instead of d^2 / r^2 in the bulge",
         _DEPTH.format(half="0.5", t=_T, z="z_a + t * (z_b - z_a) - rho * (1.0 - np.sqrt(d2) / r)")),
        ("depth not interpolated along the axis (z_a everywhere)",
         _DEPTH.format(half="0.5", t=_T, z="z_a - rho * (1.0 - d2 / r ** 2)")),
    ],
    "ex2_zbuffer": [
        ("argmax: the farthest surface wins",
         _ZBUF.format(body="    fin = np.where(np.isfinite(depths), depths, -np.inf)\n    k = np.argmax(fin, axis=0)\n"
                           "    depth = np.take_along_axis(depths, k[None], axis=0)[0]", layer="np.where(covered, k, -1)")),
        ("no background: layer 0 where no layer covers the pixel", _ZBUF.format(body=_ARGMIN, layer="k")),
        ("painter's algorithm: layers sorted by their mean depth, the nearest drawn last over whole layers",
         _ZBUF.format(body="    K = len(depths)\n"
                           "    mean = [depths[j][np.isfinite(depths[j])].mean() if np.isfinite(depths[j]).any() else np.inf for j in range(K)]\n"
                           "    k = np.zeros(depths.shape[1:], np.int64)\n    depth = np.full(depths.shape[1:], np.inf)\n"
                           "    for j in sorted(range(K), key=lambda j: -mean[j]):\n"
                           "        cov = np.isfinite(depths[j])\n        k[cov] = j\n        depth[cov] = depths[j][cov]",
                      layer="np.where(covered, k, -1)")),
        ("the last layer listed wins on ties (argmin over the reversed stack)",
         _ZBUF.format(body="    K = len(depths)\n    k = K - 1 - np.argmin(depths[::-1], axis=0)\n"
                           "    depth = np.take_along_axis(depths, k[None], axis=0)[0]", layer="np.where(covered, k, -1)")),
    ],
    "ex3_ava_rows": [
        ("0-based action ids", _ROWS.format(**{**_OK, "action": "int(c)"})),
        ("x divided by the height and y by the width",
         _ROWS.format(**{**_OK, "norm": "np.clip(np.asarray(boxes, np.float64) / np.array([height, width, height, width]), 0.0, 1.0)"})),
        ("boxes not clipped to [0, 1]",
         _ROWS.format(**{**_OK, "norm": "np.asarray(boxes, np.float64) / np.array([width, height, width, height])"})),
        ("rows for absent people too", _ROWS.format(**{**_OK, "skip": "False"})),
        ("1-based person ids", _ROWS.format(**{**_OK, "pid": "p + 1"})),
        ("boxes left in pixels", _ROWS.format(**{**_OK, "norm": "np.asarray(boxes, np.float64)"})),
    ],
}
