"""Small stand-ins for the real datasets, written in their public formats.

``python -m paperlib.data.fixtures OUT [--only ntu60 kinetics ...]`` writes them under ``OUT``;
:func:`write_fixtures` does the same from Python. They exist so that every lesson's real-data path
(its papermill parameters ``dataset``, ``data_root``, ...) runs end to end here and in CI
(``python -m paperlib.tools.fixture_runs``), and so that the loaders are tested on files shaped like
the real ones. They are large enough for every code path to run (each class present in each split),
not for a model to learn: the motion comes from the course's own generators (NTU classes reuse the
synthetic actions in turn), not from the datasets, and none of the datasets' data is in them.

========== ============================================= ==========================================
key        layout under ``OUT``                          format definition
========== ============================================= ==========================================
ntu60      ``nturgb+d_skeletons/S0ssC00cP0ppR00rA0aa``   NTU RGB+D ``.skeleton`` text files
           ``.skeleton`` (A001-A060, setups S001-S017),  (Shahroudy et al., CVPR 2016; the
           ``samples_with_missing_skeletons.txt``        ``read_skeleton.m`` of the release)
ntu120     ``nturgb+d120_skeletons/...`` (A001-A120,     NTU RGB+D 120 (Liu et al., TPAMI 2019)
           setups S001-S032)
ntu_rgb    ``ntu_rgb/rgb/<name>/img_00001.jpg...`` and   frame folders as ``ffmpeg -i
           ``ntu_rgb/skeletons/<name>.skeleton``         <name>_rgb.avi img_%05d.jpg`` writes them
kinetics   ``kinetics-skeleton/kinetics_{train,val}/``   Kinetics-skeleton JSON of the ST-GCN
           ``<id>.json`` + ``kinetics_{train,val}_``     release (Yan et al., AAAI 2018): OpenPose
           ``label.json``                                18 joints, 300 frames at most
h36m       ``h36m/data_3d_h36m.npz``                     VideoPose3D's ``prepare_data_h36m.py``
                                                         (32 joints, metres, 50 Hz)
ava        ``ava/``: ``ava_{train,val}_v2.{1,2}.csv``,   AVA Actions v2.1 / v2.2 releases
           the 60-class ActivityNet label maps and the   (Gu et al., CVPR 2018; research.google.com
           80-class ``ava_action_list_v2.x.pbtxt``,      /ava/download.html); frames as ``ffmpeg
           ``ava_{train,val}_excluded_timestamps_``      -ss 900 -t 901 -i VIDEO -r 4`` writes them
           ``v2.x.csv``, ``frames/<video_id>/``
========== ============================================= ==========================================

The quirks of the real files are present on purpose: NTU samples with a third (static) body, with
empty frames at the end, a sample in the missing-skeletons list, clips of different lengths (so the
frame sampling over each clip's own length matters); Kinetics frames without a person and with two;
Human3.6M take suffixes and S1's spellings (``TakingPhoto``, ``WalkingDog``); AVA rows of action ids
outside the 60-class whitelist and one excluded keyframe per split.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["FIXTURES", "write_fixtures", "write_ntu", "write_ntu_rgb", "write_kinetics", "write_h36m", "write_ava",
           "XSUB_TRAIN_SUBJECTS"]

#: The 20 training subjects of NTU RGB+D's cross-subject benchmark (Shahroudy et al. 2016, Sec. 3.2).
XSUB_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
FIXTURES = ("ntu60", "ntu120", "ntu_rgb", "kinetics", "h36m", "ava")
_TWO_PERSON = set(range(50, 61)) | set(range(106, 121))   # NTU's mutual actions (A050-A060, A106-A120)


def _synthetic_motion(n: int, seed: int):
    """``n`` synthetic NTU-25 sequences: joints ``(n, 2, 64, 25, 3)`` metres (camera frame), labels."""
    from .synthetic import generate

    d = generate(num_samples=max(n, 17), seed=seed)
    return d.joints, d.labels, d.valid_frames


def _bodies(joints, length, two):
    """The ``.skeleton`` bodies of one synthetic sequence, stretched to ``length`` frames."""
    T = joints.shape[1]
    src = np.minimum((np.arange(length) * T / length).astype(int), T - 1)
    out = [{"bodyID": 72057594037931101, "xyz": joints[0, src]}]
    second = joints[1, src]
    if two and np.abs(second).sum() > 0:
        out.append({"bodyID": 72057594037931102, "xyz": second})
    elif two:                                          # a mutual action: the partner mirrors the first body
        out.append({"bodyID": 72057594037931102, "xyz": joints[0, src] * [-1, 1, 1] + [0.0, 0.0, 0.6]})
    return out


def write_ntu(root, classes: int = 60, per_class: tuple = (1, 1), seed: int = 0, max_setup: int | None = None,
              lengths: tuple = (40, 101)) -> dict:
    """Write NTU RGB+D ``.skeleton`` files: for every action ``A001..A{classes}``, ``per_class[0]``
    samples of cross-subject training subjects and ``per_class[1]`` of test subjects, on cameras
    1-3 in turn (so the cross-view split has both sides too), ``lengths[0]`` to ``lengths[1] - 1``
    frames long; setups beyond ``max_setup`` are folded onto it.

    Quirks: the first file holds a third, static body; the second ends with 5 empty frames; one
    training sample is listed in ``samples_with_missing_skeletons.txt`` (and written empty, as in
    the release).

    Returns ``{"root", "missing_list", "files"}``. Raises ``ValueError`` for ``classes`` not 60 or 120.
    """
    from .ntu import write_skeleton_file

    if classes not in (60, 120):
        raise ValueError(f"write_ntu: classes must be 60 or 120, got {classes!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    test_subjects = [s for s in range(1, 41) if s not in XSUB_TRAIN_SUBJECTS]
    n_per = sum(per_class)
    joints, labels, valid = _synthetic_motion(classes * n_per, seed)
    rng = np.random.default_rng(seed)
    k, names = 0, []
    for a in range(1, classes + 1):
        for j in range(n_per):
            train = j < per_class[0]
            subj = XSUB_TRAIN_SUBJECTS[(a + j) % 20] if train else test_subjects[(a + j) % 20]
            setup = 1 + (a + j) % 17 if a <= 60 else 18 + (a + j) % 15
            if max_setup is not None:
                setup = min(setup, max_setup)
            name = f"S{setup:03d}C{1 + (a + j) % 3:03d}P{subj:03d}R{1 + j % 2:03d}A{a:03d}"
            length = int(rng.integers(*lengths))
            bodies = _bodies(joints[k % len(joints)], length, a in _TWO_PERSON)
            if k == 0:
                bodies.append({"bodyID": 72057594037931199, "xyz": np.repeat(bodies[0]["xyz"][:1] + [1.0, 0.0, 0.5],
                                                                             length, 0)})
            write_skeleton_file(root / f"{name}.skeleton", bodies, num_frames=length + (5 if k == 1 else 0))
            names.append(name)
            k += 1
    missing = f"S001C001P001R003A{1:03d}"
    write_skeleton_file(root / f"{missing}.skeleton", [], num_frames=30)
    missing_list = root.parent / f"{root.name}_samples_with_missing_skeletons.txt"
    missing_list.write_text("Samples with missing skeletons:\n\n" + missing + "\n")
    return {"root": str(root), "missing_list": str(missing_list), "files": len(names) + 1}


def write_ntu_rgb(root, classes: int = 60, per_class: tuple = (2, 1), size=(54, 96), seed: int = 0) -> dict:
    """Write NTU RGB+D frame folders ``root/rgb/<name>/img_00001.jpg...`` (the colour video at a
    twentieth of its 1080 x 1920 resolution, one frame per skeleton frame, 24 to 40 frames, the
    first body drawn as capsules; the last clip's video two frames short, a quirk of the release) beside their
    ``root/skeletons/<name>.skeleton`` files, for ``classes`` actions (as :func:`write_ntu`).
    The skeleton's colour-image coordinates are scaled to the 1920 x 1080 video.

    Returns ``{"root", "clips"}``.
    """
    from .frames import write_frame_folder
    from .ntu import read_skeleton_file
    from .video import render_skeleton_clips

    root = Path(root)
    skel = write_ntu(root / "skeletons", classes, per_class, seed, max_setup=17, lengths=(24, 41))
    (root / "skeletons_samples_with_missing_skeletons.txt").unlink()
    names = sorted(p.stem for p in (root / "skeletons").glob("*.skeleton"))
    clips = 0
    for name in names:
        s = read_skeleton_file(root / "skeletons" / f"{name}.skeleton")
        if not s["bodies"]:
            (root / "skeletons" / f"{name}.skeleton").unlink()
            continue
        xyz = next(iter(s["bodies"].values()))["xyz"]                  # (T_b, 25, 3) metres, camera frame
        frames = render_skeleton_clips(xyz[None, None], size=size, noise_std=0.0, seed=seed).frames[0]
        if name == names[-1]:
            frames = frames[:-2]             # as in a few NTU clips: the video holds fewer frames than the skeleton
        write_frame_folder(root / "rgb" / name, frames)
        clips += 1
    return {"root": str(root), "clips": clips, "skeleton_files": skel["files"]}


def write_kinetics(root, classes: int = 400, per_class: tuple = (2, 1), frames: int = 30, seed: int = 0) -> dict:
    """Write a Kinetics-skeleton release: ``root/kinetics_{train,val}/<id>.json`` (OpenPose's 18
    joints in normalised image coordinates, interleaved ``[x0, y0, ...]``, with scores) and
    ``root/kinetics_{train,val}_label.json`` (``{id: {"has_skeleton", "label", "label_index"}}``), for
    ``classes`` labels ``"action 000"``... with ``per_class`` clips in train and val.

    Quirks: a frame without a person in every clip, a second person in every third clip, and one
    train clip whose label file entry says ``has_skeleton: false``.

    Returns ``{"root", "train", "val"}`` (clip counts).
    """
    from .kinetics import write_kinetics_clip

    root = Path(root)
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.3, 0.7, (18, 2))
    counts = {}
    for part, n in (("train", per_class[0]), ("val", per_class[1])):
        d = root / f"kinetics_{part}"
        d.mkdir(parents=True, exist_ok=True)
        labels = {}
        for c in range(classes):
            for j in range(n):
                vid = f"k{part[0]}{c:03d}{j}_{rng.integers(1 << 30):08x}"
                t = np.arange(frames)[:, None, None]
                amp = 0.02 + 0.04 * ((c * 7) % 11) / 10
                pose = base + amp * np.sin(2 * np.pi * t / (8 + c % 13) + np.arange(18)[:, None] * 0.3)
                poses = [pose[i][None] for i in range(frames)]
                poses[frames // 2] = np.zeros((0, 18, 2))
                if (c + j) % 3 == 0:
                    poses = [np.concatenate([p, p + [0.15, 0.0]]) if len(p) else p for p in poses]
                scores = [np.full(p.shape[:2], 0.8) for p in poses]
                write_kinetics_clip(d / f"{vid}.json", poses, scores, label=f"action {c:03d}", label_index=c)
                labels[vid] = {"has_skeleton": not (part == "train" and c == 0 and j == 0),
                               "label": f"action {c:03d}", "label_index": c}
        (root / f"kinetics_{part}_label.json").write_text(json.dumps(labels))
        counts[part] = len(labels)
    return {"root": str(root), **counts}


def write_h36m(path, frames: int = 160, seed: int = 0) -> dict:
    """Write ``data_3d_h36m.npz`` as VideoPose3D prepares it: ``positions_3d = {subject: {action:
    (T, 32, 3) metres}}`` for S1, S5, S6, S7, S8, S9, S11 and the 15 scenarios, two takes each
    (``"Walking"`` and ``"Walking 1"``), ``frames`` frames at 50 Hz; S1 spells two scenarios
    ``"TakingPhoto"`` and ``"WalkingDog"``. The 17 joints kept by
    :data:`paperlib.skeleton.H36M32_TO_17` carry a periodic, scenario-specific motion; the 15 others
    repeat a neighbour.

    Returns ``{"path", "sequences"}``.
    """
    from ..skeleton import H36M32_TO_17
    from .h36m import H36M_ACTIONS, write_h36m_npz

    rng = np.random.default_rng(seed)
    rest17 = np.array([[0, 0, 0.9], [-0.13, 0, 0.9], [-0.13, 0, 0.47], [-0.13, 0, 0.05], [0.13, 0, 0.9],
                       [0.13, 0, 0.47], [0.13, 0, 0.05], [0, 0, 1.13], [0, 0, 1.37], [0, 0, 1.47], [0, 0, 1.6],
                       [0.17, 0, 1.37], [0.3, 0, 1.12], [0.32, 0, 0.88], [-0.17, 0, 1.37], [-0.3, 0, 1.12],
                       [-0.32, 0, 0.88]])
    nearest = np.array([np.argmin([abs(j - k) for k in H36M32_TO_17]) for j in range(32)])
    spell = {"Photo": "TakingPhoto", "WalkDog": "WalkingDog"}
    data, n = {}, 0
    for s in ("S1", "S5", "S6", "S7", "S8", "S9", "S11"):
        data[s] = {}
        for a, act in enumerate(H36M_ACTIONS):
            name = spell.get(act, act) if s == "S1" else act
            for take in ("", " 1"):
                t = np.arange(frames)[:, None, None] / 50.0
                phase = rng.uniform(0, 2 * np.pi, (17, 3))
                j17 = rest17 + 0.05 * (1 + a % 5) * np.sin(2 * np.pi * (0.5 + 0.1 * a) * t + phase)
                j17 = j17 + np.array([0.3 * np.sin(0.2 * t[:, 0, 0] * (a + 1)), np.zeros(frames),
                                      np.zeros(frames)]).T[:, None]
                j32 = j17[:, nearest]
                j32[:, list(H36M32_TO_17)] = j17
                data[s][name + take] = j32.astype(np.float32)
                n += 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_h36m_npz(path, data)
    return {"path": str(path), "sequences": n}


def write_ava(root, clips_per_split: tuple = (24, 12), frames: int = 8, size=(72, 128), seed: int = 0) -> dict:
    """Write AVA Actions v2.1 and v2.2 releases of rendered multi-person clips
    (:func:`paperlib.data.ava.export_ava`) with a 16:9 frame size: the ground-truth CSVs and
    excluded-timestamps CSVs of both versions under the released names, the 60-class label maps
    (the whitelist: the rendered classes) and the 80-class ``ava_action_list_v2.x.pbtxt`` (one
    more id, ``"extra action"``, whose rows the 60-class map filters), and one frame folder per
    video starting at 900 s. The videos of train and val differ (``{split}_00000``...).

    Returns ``{"root", "train", "val", "extra_rows", "excluded"}``.
    """
    from .ava import (AVA_VERSIONS, ava_release_names, export_ava, read_ava_csv, read_label_map, write_ava_csv,
                      write_label_map)
    from .video import make_multi_person_clips

    root = Path(root)
    out = {"root": str(root)}
    for s, (split, n) in enumerate((("train", clips_per_split[0]), ("val", clips_per_split[1]))):
        clips = make_multi_person_clips(n, frames=frames, size=size, seed=seed + s)
        clips.video_ids = [f"{split}_{i:05d}" for i in range(n)]
        excluded = [(clips.video_ids[-1], 902)]
        for version in AVA_VERSIONS:
            paths = export_ava(clips, root, split=split, version=version, write_frames=version == "v2.2",
                               excluded=excluded)
            lm = read_label_map(paths["label_map"])
            extra = max(lm.class_ids) + 1
            full = {**{i: lm.names[i] for i in lm.class_ids}, extra: "extra action"}
            write_label_map(root / ava_release_names(version, split, 80)["label_map"], full)
            ann = read_ava_csv(paths["csv"], label_map=lm)
            rows = np.flatnonzero(np.arange(len(ann)) % 4 == 0)          # every 4th row's person also does "extra"
            ann.video_ids = list(ann.video_ids) + [ann.video_ids[i] for i in rows]
            ann.timestamps = np.concatenate([ann.timestamps, ann.timestamps[rows]])
            ann.boxes = np.concatenate([ann.boxes, ann.boxes[rows]])
            ann.action_ids = np.concatenate([ann.action_ids, np.full(len(rows), extra)])
            ann.person_ids = np.concatenate([ann.person_ids, ann.person_ids[rows]])
            write_ava_csv(paths["csv"], ann)
        out[split], out["extra_rows"], out["excluded"] = n, out.get("extra_rows", 0) + len(rows), len(excluded)
    return out


_WRITERS = {
    "ntu60": lambda out, seed: write_ntu(out / "nturgb+d_skeletons", 60, seed=seed),
    "ntu120": lambda out, seed: write_ntu(out / "nturgb+d120_skeletons", 120, seed=seed),
    "ntu_rgb": lambda out, seed: write_ntu_rgb(out / "ntu_rgb", 60, seed=seed),
    "kinetics": lambda out, seed: write_kinetics(out / "kinetics-skeleton", seed=seed),
    "h36m": lambda out, seed: write_h36m(out / "h36m" / "data_3d_h36m.npz", seed=seed),
    "ava": lambda out, seed: write_ava(out / "ava", seed=seed),
}


def write_fixtures(out, only=FIXTURES, seed: int = 0, verbose: bool = False) -> dict:
    """Write the fixtures named in ``only`` (keys of :data:`FIXTURES`) under ``out``.

    Returns ``{key: what the writer returned, with "seconds"}``. Raises ``ValueError`` for an
    unknown key.
    """
    unknown = [k for k in only if k not in _WRITERS]
    if unknown:
        raise ValueError(f"write_fixtures: unknown fixtures {unknown}; known: {list(FIXTURES)}")
    out = Path(out)
    res = {}
    for key in only:
        t0 = time.perf_counter()
        res[key] = {**_WRITERS[key](out, seed), "seconds": time.perf_counter() - t0}
        if verbose:
            print(f"{key:9s} {res[key]['seconds']:5.1f} s  {res[key]}", flush=True)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paperlib.data.fixtures", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="folder to write the fixtures into")
    ap.add_argument("--only", nargs="+", default=list(FIXTURES), choices=FIXTURES)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    write_fixtures(args.out, args.only, args.seed, verbose=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
