"""Frames of a user's video: decoding (any container ffmpeg reads, rotation metadata
applied), a folder of images or one image, the kept frames, and the square crop with the
intrinsics that follow it.

Coordinates: the project's pixel convention (docs/design.md §2: pixel (i, j) has its centre
at (u, v) = (j, i)). Boxes (x0, y0, x1, y1) are pixel edges: the box (0, 0, W, H) is the
whole image.
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile

import imageio_ffmpeg
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_DECODED = 300  # frames decoded from a video at most (longer ones are subsampled)
MAX_SIDE = 1280  # decoded frames are scaled down to this longer side


class VideoError(ValueError):
    """A video, image or folder that cannot be used; the message names it."""


def _read_image(path: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as e:
        raise VideoError(f"{path}: not a readable image ({e})") from None


def _image_files(folder: str) -> list:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise VideoError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    return [os.path.join(folder, n) for n in names]


def _probe(path: str) -> dict:
    """Duration (s), frame rate (0 if absent) and the displayed frame size (width,
    height: the coded size turned by the rotation metadata) from ffmpeg's report."""
    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", path],
                            capture_output=True, text=True)
    text = result.stderr
    if "Video:" not in text:
        raise VideoError(f"{path}: not a video ffmpeg can read"
                         + (f" ({text.strip().splitlines()[-1]})" if text.strip() else ""))
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    fps = re.search(r"([\d.]+) fps", text)
    seconds = (int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3])
               if duration else 0.0)
    video_line = next(line for line in text.splitlines() if "Video:" in line)
    size = re.search(r", (\d{2,5})x(\d{2,5})", video_line)
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", text)
    width, height = (int(size[1]), int(size[2])) if size else (0, 0)
    if rotation and round(abs(float(rotation[1]))) % 180 == 90:
        width, height = height, width
    return dict(duration=seconds, fps=float(fps[1]) if fps else 0.0, size=(width, height))


@dataclasses.dataclass
class Frames:
    """The kept frames of an input, and what they were taken from."""

    frames: np.ndarray  # (N,H,W,3) uint8
    indices: np.ndarray  # (N,) int: their indices among the input's frames
    count: int  # the input's frames (decoded frames of a video)
    note: str = ""  # what the decoding changed (subsampled, scaled), or ""
    scale: float = 1.0  # the frames' width over the input's (< 1: a video decoded smaller)


def _load_kept(paths: list, keep, source: str):
    """(frames, indices) of the `keep` frames spread over image files (all when None),
    after checking from the files' headers that every image has one size."""
    sizes = set()
    for path in paths:
        try:
            with Image.open(path) as im:
                sizes.add(im.size)
        except (OSError, ValueError) as e:
            raise VideoError(f"{path}: not a readable image ({e})") from None
    if len(sizes) > 1:
        raise VideoError(f"{source}: the images differ in size ({sorted(sizes)[:3]})")
    indices = kept_indices(len(paths), keep) if keep else np.arange(len(paths))
    return np.stack([_read_image(paths[i]) for i in indices]), indices


def decode_video(path: str, keep=None, max_frames: int = MAX_DECODED,
                 max_side: int = MAX_SIDE) -> Frames:
    """Every frame, or `max_frames` spread over the clip when it has more (the note says
    so); rotation metadata applied by ffmpeg; the longer side scaled down to `max_side`
    (scale: decoded / displayed width). Only the `keep` frames spread over the decoded
    ones are read back (all when None)."""
    info = _probe(path)
    filters = [f"scale='if(gt(iw,ih),min({max_side},iw),-2)':"
               f"'if(gt(iw,ih),-2,min({max_side},ih))'"]
    note = ""
    expected = info["duration"] * info["fps"]
    if expected > max_frames:
        filters.insert(0, f"fps={max_frames / info['duration']:.6f}")
        note = (f"{path}: about {expected:.0f} frames; {max_frames} decoded, spread over "
                f"the {info['duration']:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i",
             path, "-vf", ",".join(filters), "-frames:v", str(max_frames),
             os.path.join(tmp, "%06d.png")], capture_output=True, text=True)
        names = sorted(os.listdir(tmp))
        if result.returncode or not names:
            raise VideoError(f"{path}: no frames decoded ({result.stderr.strip()[-200:]})")
        frames, indices = _load_kept([os.path.join(tmp, n) for n in names], keep, path)
    width = info["size"][0]
    scale = frames.shape[2] / width if width else 1.0
    if abs(scale - 1) > 1e-6:
        note += (f"{'; ' if note else f'{path}: '}decoded at {frames.shape[2]}x"
                 f"{frames.shape[1]} (boxes, masks and keypoints stay in the video's "
                 f"{info['size'][0]}x{info['size'][1]} pixels)")
    return Frames(frames, indices, len(names), note, scale)


def read_frames(path: str, keep=None) -> Frames:
    """A video file, a folder of images (sorted by name) or one image: `Frames` holding
    the `keep` frames spread over it (all when None). Images must share one size."""
    if not os.path.exists(path):
        raise VideoError(f"{path}: no such file or folder")
    if os.path.isdir(path) or path.lower().endswith(IMAGE_SUFFIXES):
        paths = _image_files(path) if os.path.isdir(path) else [path]
        frames, indices = _load_kept(paths, keep, path)
        return Frames(frames, indices, len(paths))
    return decode_video(path, keep)


def kept_indices(count: int, num: int) -> np.ndarray:
    """`num` frame indices spread evenly over `count` frames (all when count <= num)."""
    if count <= num:
        return np.arange(count)
    return np.round(np.linspace(0, count - 1, num)).astype(int)


def default_intrinsics(height: int, width: int, fov_deg: float = 65.0) -> np.ndarray:
    """(3,3) K of a camera whose longer image side spans `fov_deg` (a phone's main camera
    spans about 65-75 degrees); principal point at the image centre."""
    focal = 0.5 * max(height, width) / np.tan(np.deg2rad(fov_deg) / 2)
    return np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]],
                    np.float64)


def square_box(boxes, margin: float = 1.25) -> tuple:
    """The square (x0, y0, x1, y1), in whole pixels, around the union of boxes, `margin`
    times its longer side (it may reach outside the image: the crop pads black)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    lo, hi = boxes[:, :2].min(0), boxes[:, 2:].max(0)
    side = max(1, int(round(margin * float(np.max(hi - lo)))))
    x0, y0 = (int(round(v)) for v in (lo + hi) / 2 - side / 2)
    return (x0, y0, x0 + side, y0 + side)


def crop(image: np.ndarray, box, size: int, resample=Image.BILINEAR) -> np.ndarray:
    """The square `box` of an (H,W,C) or (H,W) uint8 image resized to (size, size)."""
    box = tuple(int(round(v)) for v in box)
    return np.asarray(Image.fromarray(image).crop(box).resize((size, size), resample))


def crop_points(points: np.ndarray, box, size: int) -> np.ndarray:
    """(...,2) pixel coordinates of the frame -> of its crop `box` resized to `size` (the
    project's pixel-centre convention: u' = s (u + 1/2 - x0) - 1/2, s = size / side)."""
    x0, y0, x1, _ = (int(round(v)) for v in box)
    return (size / (x1 - x0)) * (np.asarray(points, np.float64) + 0.5 - [x0, y0]) - 0.5


def crop_intrinsics(K: np.ndarray, box, size: int) -> np.ndarray:
    """K of the crop `box` resized to `size` (focal scaled, principal point by
    `crop_points`)."""
    x0, _, x1, _ = (int(round(v)) for v in box)
    out = np.array(K, np.float64)
    out[:2, :2] *= size / (x1 - x0)
    out[:2, 2] = crop_points(out[:2, 2], box, size)
    return out
