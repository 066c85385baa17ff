"""Frame-folder videos: one folder of JPEG frames per clip, and NTU RGB frames with 2D pose.

The convention is the one produced by the usual ffmpeg extraction
(``ffmpeg -i video.avi -q:v 2 folder/img_%05d.jpg``): files ``img_00001.jpg``, ``img_00002.jpg``...
numbered from 1 without gaps. Real NTU RGB+D or N-UCLA videos extracted this way load with
:func:`read_frame_folder`; :func:`load_ntu_rgb_pose` pairs an NTU frame folder with its
``.skeleton`` file and returns the Kinect ``colorX, colorY`` joints as 2D pose.

Frame indices in this module are 0-based (frame ``k`` is the file numbered ``start + k``).
Bad input raises :class:`paperlib.data.errors.FormatError` naming the folder or file: a missing
folder, no frames, a gap in the numbering (the first missing file is named), an undecodable
JPEG, frames of different sizes. Nothing is skipped.
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FormatError

__all__ = ["FRAME_TEMPLATE", "write_frame_folder", "list_frame_numbers", "sample_indices", "read_frame_folder",
           "FrameClip", "NTURGBClip", "load_ntu_rgb_pose", "NTU_COLOR_SIZE"]

#: File name of frame number ``n`` (``FRAME_TEMPLATE.format(n)``), as written by ffmpeg's ``img_%05d.jpg``.
FRAME_TEMPLATE = "img_{:05d}.jpg"
#: Size ``(W, H)`` of NTU RGB+D's colour images, the frame of ``colorX, colorY``.
NTU_COLOR_SIZE = (1920, 1080)


def _pattern(template):
    head, _, tail = template.partition("{")
    fmt, _, rest = tail.partition("}")
    if not _ or not fmt.startswith(":") and fmt:
        raise ValueError(f"frame template must contain one '{{:0Nd}}' field, got {template!r}")
    return re.compile("^" + re.escape(head) + r"(\d+)" + re.escape(rest) + "$")


def write_frame_folder(folder, frames, template: str = FRAME_TEMPLATE, start: int = 1, quality: int = 95) -> list:
    """Write ``frames (T, H, W, 3)`` uint8 RGB as JPEG files ``folder/img_00001.jpg``... (PIL).

    Creates the folder. Returns the list of written paths. Raises ``ValueError`` if the frames
    are not a ``(T, H, W, 3)`` uint8 array.
    """
    from PIL import Image

    f = np.asarray(frames)
    if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
        raise ValueError(f"write_frame_folder: frames must be (T, H, W, 3) uint8, got {f.shape} {f.dtype}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, img in enumerate(f):
        p = folder / template.format(start + k)
        Image.fromarray(img).save(p, quality=int(quality))
        paths.append(str(p))
    return paths


def list_frame_numbers(folder, template: str = FRAME_TEMPLATE, start: int = 1) -> np.ndarray:
    """Frame numbers found in ``folder`` (sorted), checked to be ``start, start + 1, ...`` without gaps.

    Files that do not match ``template`` are ignored (e.g. ``Thumbs.db``).

    Raises
    ------
    FormatError
        If the folder does not exist or holds no frame, or a frame is missing (the message names
        the first missing file), or the numbering does not begin at ``start``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(folder, "frame folder does not exist")
    pat = _pattern(template)
    nums = sorted(int(m.group(1)) for m in (pat.match(n) for n in os.listdir(folder)) if m)
    if not nums:
        raise FormatError(folder, f"no frames named like {template.format(start)!r}")
    arr = np.asarray(nums, np.int64)
    expected = np.arange(start, start + len(arr))
    if not np.array_equal(arr, expected):
        missing = sorted(set(range(start, int(arr[-1]) + 1)) - set(nums))
        first = missing[0] if missing else int(arr[0])
        raise FormatError(folder / template.format(first), f"missing frame {template.format(first)} in {folder} "
                          f"({len(missing)} missing between {template.format(start)} and {template.format(int(arr[-1]))})",
                          field="frame")
    return arr


def sample_indices(num_frames: int, num_samples: int, mode: str = "uniform", center: int | None = None,
                   stride: int = 1) -> np.ndarray:
    """0-based indices of ``num_samples`` frames out of ``num_frames``.

    - ``"uniform"``: the centre frame of each of ``num_samples`` equal segments,
      ``floor((k + 0.5) * num_frames / num_samples)`` (TSN-style; frames repeat when
      ``num_frames < num_samples``);
    - ``"center"``: ``center + (k - num_samples // 2) * stride``, clamped to ``[0, num_frames - 1]``
      (the clip around an AVA keyframe; edge frames repeat near the ends). ``center`` defaults
      to ``num_frames // 2``.

    Raises ``ValueError`` for ``num_frames < 1``, ``num_samples < 1``, ``stride < 1``, an unknown
    mode or a centre outside the video.
    """
    if num_frames < 1 or num_samples < 1 or stride < 1:
        raise ValueError(f"sample_indices: need num_frames, num_samples, stride >= 1, got {num_frames}, {num_samples}, {stride}")
    k = np.arange(num_samples)
    if mode == "uniform":
        return np.floor((k + 0.5) * num_frames / num_samples).astype(np.int64)
    if mode == "center":
        c = num_frames // 2 if center is None else int(center)
        if not 0 <= c < num_frames:
            raise ValueError(f"sample_indices: center {c} outside [0, {num_frames})")
        return np.clip(c + (k - num_samples // 2) * stride, 0, num_frames - 1).astype(np.int64)
    raise ValueError(f"sample_indices: mode must be 'uniform' or 'center', got {mode!r}")


@dataclass
class FrameClip:
    """Frames sampled from a frame folder.

    Attributes
    ----------
    frames : np.ndarray, uint8, ``(T, H, W, 3)`` RGB.
    indices : np.ndarray, int64, ``(T,)`` 0-based frame indices in the folder.
    num_frames : int, frames in the folder.
    folder : str.
    box_scale, box_offset : np.ndarray, float64, ``(4,)`` each: where a box given in the folder's
        normalised coordinates ``(x1, y1, x2, y2)`` in ``[0, 1]`` lies in the returned frames
        (normalised too): ``box * box_scale + box_offset``. Identity unless ``fit="letterbox"``.
    """

    frames: np.ndarray
    indices: np.ndarray
    num_frames: int
    folder: str
    box_scale: np.ndarray = field(default_factory=lambda: np.ones(4))
    box_offset: np.ndarray = field(default_factory=lambda: np.zeros(4))


def _letterbox(img, size):
    """PIL image -> (image of ``size`` (H, W): the frame scaled to fit, aspect ratio kept, centred on
    black), box_scale (4,), box_offset (4,)) in normalised coordinates."""
    from PIL import Image

    H, W = int(size[0]), int(size[1])
    w0, h0 = img.size
    s = min(W / w0, H / h0)
    w, h = max(1, int(round(w0 * s))), max(1, int(round(h0 * s)))
    ox, oy = (W - w) // 2, (H - h) // 2
    canvas = Image.new("RGB", (W, H))
    canvas.paste(img.resize((w, h), Image.BILINEAR), (ox, oy))
    scale = np.array([w / W, h / H, w / W, h / H])
    offset = np.array([ox / W, oy / H, ox / W, oy / H])
    return canvas, scale, offset


def read_frame_folder(folder, num_samples: int | None = None, mode: str = "uniform", center: int | None = None,
                      stride: int = 1, size=None, template: str = FRAME_TEMPLATE, start: int = 1,
                      fit: str = "stretch") -> FrameClip:
    """Read ``num_samples`` frames (all if ``None``) of a frame folder, sampled by :func:`sample_indices`.

    Parameters
    ----------
    folder : path of the clip's folder.
    num_samples, mode, center, stride : see :func:`sample_indices`.
    size : (H, W), optional: resize every frame (bilinear) to this size in pixels.
    template, start : file naming (default ``img_00001.jpg``...).
    fit : with ``size``, ``"stretch"`` (each axis scaled to ``size``: the aspect ratio changes
        unless it already matches) or ``"letterbox"`` (scaled to fit, aspect ratio kept, centred
        and padded with black; ``FrameClip.box_scale``/``box_offset`` map boxes into the result).

    Returns
    -------
    FrameClip

    Raises
    ------
    FormatError
        From :func:`list_frame_numbers`; for a file that PIL cannot decode (named); for frames
        whose size differs from the first sampled frame (named, ``field='size'``).
    """
    from PIL import Image

    if fit not in ("stretch", "letterbox"):
        raise ValueError(f"read_frame_folder: fit must be 'stretch' or 'letterbox', got {fit!r}")
    folder = Path(folder)
    nums = list_frame_numbers(folder, template, start)
    box_scale, box_offset = np.ones(4), np.zeros(4)
    n = len(nums)
    idx = np.arange(n) if num_samples is None else sample_indices(n, num_samples, mode, center, stride)
    out, shape = [], None
    cache = {}
    for i in idx.tolist():
        if i not in cache:
            path = folder / template.format(start + i)
            try:
                with Image.open(path) as im:
                    img = im.convert("RGB")
                    if size is not None and fit == "letterbox":
                        img, box_scale, box_offset = _letterbox(img, size)
                    elif size is not None:
                        img = img.resize((int(size[1]), int(size[0])), Image.BILINEAR)
                    arr = np.asarray(img, dtype=np.uint8)
            except FileNotFoundError:
                raise FormatError(path, f"missing frame {path.name} in {folder}", field="frame") from None
            except (OSError, ValueError) as err:
                raise FormatError(path, f"cannot decode image ({err})") from None
            if shape is None:
                shape = arr.shape
            elif arr.shape != shape:
                raise FormatError(path, f"frame size {arr.shape[1]}x{arr.shape[0]} differs from "
                                  f"{shape[1]}x{shape[0]} of the first sampled frame", field="size")
            cache[i] = arr
        out.append(cache[i])
    return FrameClip(frames=np.stack(out), indices=idx.astype(np.int64), num_frames=n, folder=str(folder),
                     box_scale=box_scale, box_offset=box_offset)


@dataclass
class NTURGBClip:
    """NTU RGB+D frames with the Kinect colour-image joints as 2D pose.

    Attributes
    ----------
    frames : np.ndarray, uint8, ``(T, H, W, 3)``.
    joints2d : np.ndarray, float32, ``(M, T, 25, 2)``
        ``colorX, colorY`` scaled from the 1920x1080 colour image to the frames' ``W x H``
        (``u' = u W / 1920``, ``v' = v H / 1080``); zeros where the body is absent.
    present : np.ndarray, bool, ``(M, T)``: body ``m`` tracked in that frame.
    indices : np.ndarray, int64, ``(T,)`` 0-based frame indices (RGB frame ``k`` <-> skeleton frame ``k``).
    num_frames : int, RGB frames in the folder.
    skeleton_frames : int, frames in the ``.skeleton`` file.
    name : str, the NTU sample name.
    """

    frames: np.ndarray
    joints2d: np.ndarray
    present: np.ndarray
    indices: np.ndarray
    num_frames: int
    skeleton_frames: int
    name: str


def load_ntu_rgb_pose(frame_folder, skeleton_path, num_samples: int = 16, mode: str = "uniform",
                      center: int | None = None, stride: int = 1, size=None, max_bodies: int = 2,
                      template: str = FRAME_TEMPLATE, report=None) -> NTURGBClip:
    """Pair an NTU RGB+D frame folder with its ``.skeleton`` file: frames + 2D pose.

    The skeleton is read with :func:`paperlib.data.ntu.load_ntu_sample` (bodies ranked by
    activity, the ``max_bodies`` most active kept); its ``color_xy`` (``colorX, colorY`` of the
    file, pixels of the 1920x1080 image) is placed back on the file's own frame numbers
    (``NTUSample.frame_index``), so RGB frame ``k`` gets skeleton frame ``k``.

    If the folder and the skeleton file have different frame counts (it happens in NTU RGB+D),
    a ``UserWarning`` names both; frames without skeleton data get ``present = False``. Bodies
    beyond ``max_bodies`` are reported by one ``UserWarning`` (the skeleton loader's
    :class:`paperlib.data.errors.SkipReport`). With ``report`` (a ``SkipReport``) both are added to
    it instead of warned about, so that a data set's loader warns once for all its clips.

    Raises
    ------
    FormatError
        From the frame folder (missing frames...) or the skeleton file (file, line, field).
    """
    from . import ntu

    skeleton_path = Path(skeleton_path)
    try:
        with open(skeleton_path, encoding="ascii", errors="replace") as fh:
            first = fh.readline().strip()
        n_skel = int(first)
    except FileNotFoundError:
        raise FormatError(skeleton_path, "skeleton file does not exist") from None
    except ValueError:
        raise FormatError(skeleton_path, f"expected the frame count, got {first!r}", line=1, field="frame count") from None
    clip = read_frame_folder(frame_folder, num_samples, mode, center, stride, size, template)
    from .errors import SkipReport

    own = SkipReport(source=skeleton_path.name)
    sample = ntu.load_ntu_sample(skeleton_path, max_bodies=max_bodies, max_frames=max(n_skel, 1), report=own)
    # frames without a kept body are not lost here (they get present=False); other losses warn
    own.counts.pop("frame without a kept body (removed)", None)
    own.items = [it for it in own.items if not it[1].startswith("frame without a kept body")]
    if clip.num_frames != n_skel:
        own.add(skeleton_path, "RGB and skeleton frame counts differ (frames without skeleton data: present=False)",
                1, f"{Path(frame_folder).name}: {clip.num_frames} RGB frames, {n_skel} skeleton frames")
    if report is not None:
        report.merge(own)
    else:
        own.warn(stacklevel=2)
    M = max_bodies
    full = np.zeros((M, clip.num_frames, 25, 2), np.float32)
    pres = np.zeros((M, clip.num_frames), bool)
    v = sample.valid_frames
    fi = sample.frame_index[:v]
    ok = fi < clip.num_frames
    body_here = np.abs(sample.color_xy[:, :v]).sum(axis=(2, 3)) > 0  # (M, v)
    full[:, fi[ok]] = sample.color_xy[:, :v][:, ok]
    pres[:, fi[ok]] = body_here[:, ok]
    H, W = clip.frames.shape[1:3]
    scale = np.array([W / NTU_COLOR_SIZE[0], H / NTU_COLOR_SIZE[1]], np.float32)
    j2 = full[:, clip.indices] * scale
    return NTURGBClip(frames=clip.frames, joints2d=j2.astype(np.float32), present=pres[:, clip.indices],
                      indices=clip.indices, num_frames=clip.num_frames, skeleton_frames=n_skel, name=sample.name)
