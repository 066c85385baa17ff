"""Wrong answers that students really write, for notebooks/exercises/00b_rendered_video_data.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.

Every mutant here is written as its mistake: ``mutate(STEM, grade_id, (old, new))``
(paperlib.tools.grading) edits the exact text ``old`` of the reference answer.
"""
from paperlib.tools.grading import mutate

STEM = "00b_rendered_video_data"

_Z = "z = z_a + t * (z_b - z_a) - rho * (1.0 - d2 / r ** 2)"
_NORM = "np.clip(np.asarray(boxes, np.float64) / np.array([width, height, width, height]), 0.0, 1.0)"
_ARGMIN = "k = np.argmin(depths, axis=0)"

MUTANTS = {
    "ex1_capsule_depth": [
        ("pixel corners (j, i) instead of pixel centres (j + 0.5, i + 0.5)", mutate(
            STEM, "ex1_capsule_depth", ("np.mgrid[0:height, 0:width] + 0.5", "np.mgrid[0:height, 0:width] + 0.0"))),
        ("t not clamped: an infinite cylinder instead of a capsule with round caps", mutate(
            STEM, "ex1_capsule_depth",
            ("t = np.clip(((p - a) * ab).sum(-1) / max((ab ** 2).sum(), 1e-12), 0.0, 1.0)",
             "t = ((p - a) * ab).sum(-1) / max((ab ** 2).sum(), 1e-12)"))),
        ("the exact circular bulge rho sqrt(1 - d^2/r^2) instead of the renderer's parabola", mutate(
            STEM, "ex1_capsule_depth",
            (_Z, "z = z_a + t * (z_b - z_a) - rho * np.sqrt(np.clip(1.0 - d2 / r ** 2, 0, None))"))),
        ("the bulge added: the back of the tube instead of its front", mutate(
            STEM, "ex1_capsule_depth", (_Z, "z = z_a + t * (z_b - z_a) + rho * (1.0 - d2 / r ** 2)"))),
        ("d / r instead of d^2 / r^2 in the bulge", mutate(
            STEM, "ex1_capsule_depth", (_Z, "z = z_a + t * (z_b - z_a) - rho * (1.0 - np.sqrt(d2) / r)"))),
        ("depth not interpolated along the axis (z_a everywhere)", mutate(
            STEM, "ex1_capsule_depth", (_Z, "z = z_a - rho * (1.0 - d2 / r ** 2)"))),
    ],
    "ex2_zbuffer": [
        ("argmax: the farthest surface wins", mutate(
            STEM, "ex2_zbuffer",
            (_ARGMIN, "fin = np.where(np.isfinite(depths), depths, -np.inf)\n    k = np.argmax(fin, axis=0)"))),
        ("no background: layer 0 where no layer covers the pixel", mutate(
            STEM, "ex2_zbuffer", ("return rgb, depth, np.where(covered, k, -1).astype(np.int64)", "return rgb, depth, k"))),
        ("painter's algorithm: layers sorted by their mean depth, the nearest drawn last over whole layers", mutate(
            STEM, "ex2_zbuffer",
            (_ARGMIN + "\n    depth = np.take_along_axis(depths, k[None], axis=0)[0]",
             "K = len(depths)\n"
             "    mean = [depths[j][np.isfinite(depths[j])].mean() if np.isfinite(depths[j]).any() else np.inf for j in range(K)]\n"
             "    k = np.zeros(depths.shape[1:], np.int64)\n    depth = np.full(depths.shape[1:], np.inf)\n"
             "    for j in sorted(range(K), key=lambda j: -mean[j]):\n"
             "        cov = np.isfinite(depths[j])\n        k[cov] = j\n        depth[cov] = depths[j][cov]"))),
        ("the last layer listed wins on ties (argmin over the reversed stack)", mutate(
            STEM, "ex2_zbuffer", (_ARGMIN, "K = len(depths)\n    k = K - 1 - np.argmin(depths[::-1], axis=0)"))),
    ],
    "ex3_ava_rows": [
        ("0-based action ids", mutate(STEM, "ex3_ava_rows", ("int(c) + 1, p)", "int(c), p)"))),
        ("x divided by the height and y by the width", mutate(
            STEM, "ex3_ava_rows", ("np.array([width, height, width, height])", "np.array([height, width, height, width])"))),
        ("boxes not clipped to [0, 1]", mutate(
            STEM, "ex3_ava_rows", (_NORM, "np.asarray(boxes, np.float64) / np.array([width, height, width, height])"))),
        ("rows for absent people too", mutate(STEM, "ex3_ava_rows", ("if not present[p]:", "if False:"))),
        ("1-based person ids", mutate(STEM, "ex3_ava_rows", ("int(c) + 1, p)", "int(c) + 1, p + 1)"))),
        ("boxes left in pixels", mutate(STEM, "ex3_ava_rows", (_NORM, "np.asarray(boxes, np.float64)"))),
    ],
}
