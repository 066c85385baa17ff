"""The real-format fixtures (paperlib.data.fixtures) read back with the loaders, quirks counted, and
the fixture runs (paperlib.tools.fixture_runs) built from the documented commands.

The fixture runs themselves (every lesson end to end through papermill) are a step of ``.ci/run``
(``make fixture-runs``), not a test: they take minutes.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from paperlib.data import ava, fixtures, h36m, kinetics, ntu
from paperlib.tools import fixture_runs
from paperlib.tools.commands import LESSONS, parameter_defaults


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


@pytest.mark.parametrize("classes,benchmarks", [(60, ("xsub", "xview")), (120, ("xsub120", "xset120"))])
def test_ntu_fixture_has_every_class_in_both_splits_and_its_quirks(tmp_path, classes, benchmarks):
    out = fixtures.write_ntu(tmp_path / "skel", classes, per_class=(1, 1), lengths=(20, 31))
    assert out["files"] == 2 * classes + 1
    for bm in benchmarks:
        parts = {s: quiet(ntu.load_ntu_dataset, out["root"], bm, s, max_frames=40, missing_list=out["missing_list"])
                 for s in ("train", "test")}
        labels = [set(parts[s][0].labels.tolist()) for s in ("train", "test")]
        if bm in ("xsub", "xsub120"):
            assert labels[0] == labels[1] == set(range(classes))
        else:
            assert labels[0] and labels[1]
        reports = [parts[s][1] for s in ("train", "test")]
        assert sum(r.counts.get("listed as missing skeletons", 0) for r in reports) == 1
        assert sum(r.counts.get("frame without a kept body (removed)", 0) for r in reports) == 5   # the empty tail
    lengths = parts["train"][0].valid_frames
    assert lengths.min() < lengths.max()                               # clips of different lengths


def test_ntu_rgb_fixture_pairs_frames_and_skeletons(tmp_path):
    from paperlib.papers.glimpse import load_ntu_rgb
    out = fixtures.write_ntu_rgb(tmp_path / "rgb", 60, per_class=(1, 0))
    assert out["clips"] == 60
    with pytest.warns(UserWarning, match="frame counts differ") as rec:
        d = load_ntu_rgb(out["root"], frames=4, size=32)
    assert len(rec) == 1, "one warning for the whole set, not one per clip"
    assert d.X.shape == (60, 3, 4, 32, 32) and len(d.class_names) == 60


def test_kinetics_fixture(tmp_path):
    out = fixtures.write_kinetics(tmp_path / "k", classes=12, per_class=(2, 1), frames=10)
    k, rep = quiet(kinetics.load_kinetics_dataset, Path(out["root"]) / "kinetics_train",
                   Path(out["root"]) / "kinetics_train_label.json", max_frames=20)
    assert len(k.labels) == 23 and rep.counts == {"has_skeleton is false": 1}
    assert len(k.class_names) == 12
    person2 = np.abs(k.data[:, :, :, :, 1]).sum((1, 2, 3)) > 0          # (N, C, T, V, M): a second person
    assert 0 < person2.sum() < len(k.labels)


def test_h36m_fixture(tmp_path):
    out = fixtures.write_h36m(tmp_path / "h" / "data_3d_h36m.npz", frames=60)
    pos = h36m.load_h36m_3d(out["path"])
    assert set(pos) == {"S1", "S5", "S6", "S7", "S8", "S9", "S11"}
    assert "TakingPhoto" in pos["S1"] and "WalkingDog 1" in pos["S1"] and "Photo" in pos["S5"]
    seq = next(iter(pos["S9"].values()))
    assert seq.shape == (60, 17, 3)
    assert {h36m.action_label(a) for a in pos["S1"]} == set(h36m.H36M_ACTIONS)


@pytest.mark.parametrize("version", ["v2.1", "v2.2"])
def test_ava_fixture_release_layout_whitelist_and_exclusions(tmp_path, version):
    out = fixtures.write_ava(tmp_path / "ava", clips_per_split=(6, 3), frames=4)
    for split in ("train", "val"):
        r60 = ava.load_ava_release(out["root"], split, version, 60)
        r80 = ava.load_ava_release(out["root"], split, version, 80)
        whitelist = [k for k in r60.report.filtered if "not in the label map" in k]
        assert len(whitelist) == 1 and r60.report.filtered[whitelist[0]] > 0
        assert len(r80.groundtruth) > len(r60.groundtruth)
        assert r60.report.filtered["ground-truth rows: keyframes at excluded timestamps"] == 1
    frames = sorted((Path(out["root"]) / "frames").iterdir())
    assert {p.name.split("_")[0] for p in frames} == {"train", "val"}


def test_write_fixtures_rejects_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="unknown fixtures"):
        fixtures.write_fixtures(tmp_path, ["nope"])


# ------------------------------------------------------------------ the fixture runs
def test_every_lesson_with_a_real_data_path_has_a_fixture_run():
    lessons = {p.stem for p in LESSONS if "data_root" in parameter_defaults(p) or "ntu_dir" in parameter_defaults(p)}
    lessons -= {"00b_rendered_video_data"}                              # everything there is generated
    assert lessons == set(fixture_runs.RUNS)


@pytest.mark.parametrize("stem", sorted(fixture_runs.RUNS))
def test_fixture_run_is_the_documented_command_at_the_smallest_scale(stem, tmp_path):
    documented, params = fixture_runs.fixture_parameters(stem, tmp_path)
    run = fixture_runs.RUNS[stem]
    defaults = parameter_defaults(Path(fixture_runs.ROOT) / "notebooks" / f"{stem}.ipynb")
    assert set(params) <= set(defaults)
    assert documented["dataset"] != defaults["dataset"]                  # the documented command is a real-data one
    changed = {k for k in params if params[k] != documented.get(k)}
    assert changed <= set(run.paths) | set(run.smallest) | {"device"}, changed
    for k in run.smallest:                                               # only ever smaller
        assert k in documented or k in defaults
        ref = documented.get(k, defaults[k])
        if ref is None:                                                  # no limit documented: any is smaller
            continue
        assert params[k] >= ref if k.endswith("_stride") else params[k] <= ref, (k, params[k], ref)
    for k, rel in run.paths.items():
        assert params[k] == str(tmp_path / rel)
    json.dumps(params)                                                   # papermill injects JSON-able values: raises otherwise
