"""The clip format (docs/design.md section 4, compatible with DiffHOI's preprocessed clips).

```
CLIP/
  image/000000.png ...        RGB frames (optional; for visualisation)
  obj_mask/000000.png ...     object mask, 8-bit, >127 = object
  hand_mask/000000.png ...    hand mask, 8-bit, >127 = hand
  cameras_hoi.npz             cTw (T,4,4): hand frame -> camera; K_pix (T,3,3) or (T,4,4)
  hands.npz                   hA (T,45) axis-angle, flat hand mean; beta (T,10)
  text.txt                    category word (optional; missing = unknown category)
  oObj.obj                    ground-truth object mesh, object frame, metres (evaluation)
  gt.npz                      ground truth (evaluation): hTo, cTh (T,4,4), hA (T,45),
                              beta (10,) or (T,10), K_pix
```
DiffHOI's `cameras_hoi_smooth_100.npz` / `hands_smooth_100.npz` are accepted when the plain
names are absent. `load_clip` validates everything before returning and raises one
`ClipError` that names the file and the problem; `save_clip` writes a whole clip or nothing.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

MASK_THRESHOLD = 127  # 8-bit mask pixels above this are "on"
RIGID_ATOL = 1e-3  # tolerance on R^T R = I, det R = 1 and the [0 0 0 1] row


class ClipError(ValueError):
    """A clip folder is missing pieces or holds inconsistent or invalid data."""


@dataclasses.dataclass
class Clip:
    """A loaded clip, all numpy. T frames of H x W pixels.

    obj_mask, hand_mask (T,H,W) bool; images (T,H,W,3) uint8 or None; cTh (T,4,4) hand ->
    camera (the `cTw` of cameras_hoi.npz); K (T,3,3) pixel intrinsics; hA (T,45); beta
    (T,10) (hand-tracker estimates); category str or None; frame_names; object_mesh_path
    (oObj.obj) or None; gt dict (hTo, cTh, hA, beta, K) or None; path.
    """

    obj_mask: np.ndarray
    hand_mask: np.ndarray
    cTh: np.ndarray
    K: np.ndarray
    hA: np.ndarray
    beta: np.ndarray
    images: np.ndarray | None = None
    category: str | None = None
    frame_names: tuple = ()
    object_mesh_path: str | None = None
    gt: dict | None = None
    path: str = ""

    @property
    def num_frames(self) -> int:
        return self.obj_mask.shape[0]

    def with_true_track(self) -> "Clip":
        """The clip with its ground-truth hand track (cTh, hA, beta, K of gt) in place of
        the tracker's estimates: a fit from it shows what the shape alone costs. Raises
        ClipError for a clip without ground truth."""
        if not self.gt:
            raise ClipError(f"{self.path}: no ground truth (gt.npz) to take the track from")
        T = self.num_frames
        return dataclasses.replace(
            self, cTh=np.asarray(self.gt["cTh"]), hA=np.asarray(self.gt["hA"]),
            beta=np.broadcast_to(np.asarray(self.gt["beta"]), (T, 10)).copy(),
            K=np.asarray(self.gt["K"]))

    @property
    def image_size(self) -> tuple:
        return self.obj_mask.shape[1:3]


# ---------------------------------------------------------------------------------------
# Reading.

def _frame_names(folder: str) -> list:
    if not os.path.isdir(folder):
        raise ClipError(f"{folder}: missing folder (a clip needs obj_mask/ and hand_mask/)")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    if not names:
        raise ClipError(f"{folder}: no .png frames")
    return names


def _read_image(path: str, mode: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except Exception as e:  # PIL raises several types for broken files
        raise ClipError(f"{path}: unreadable image ({type(e).__name__}: {e})") from e


def _read_frames(folder: str, names: list, mode: str) -> np.ndarray:
    frames, size = [], None
    for name in names:
        path = os.path.join(folder, name)
        image = _read_image(path, mode)
        if size is None:
            size = image.shape[:2]
        elif image.shape[:2] != size:
            raise ClipError(f"{path}: size {image.shape[1]}x{image.shape[0]} differs from the "
                            f"first frame's {size[1]}x{size[0]}")
        frames.append(image)
    return np.stack(frames)


def _load_npz(path: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except Exception as e:
        raise ClipError(f"{path}: unreadable npz ({type(e).__name__}: {e})") from e


def _pick(clip_dir: str, *names: str) -> str:
    for name in names:
        path = os.path.join(clip_dir, name)
        if os.path.isfile(path):
            return path
    raise ClipError(f"{os.path.join(clip_dir, names[0])}: missing file"
                    + (f" (also looked for {', '.join(names[1:])})" if len(names) > 1 else ""))


def _array(data: dict, key: str, path: str, shapes: tuple, num_frames: int) -> np.ndarray:
    """data[key] as float64, checked against allowed shapes (None = T) and for NaN/Inf."""
    if key not in data:
        raise ClipError(f"{path}: missing array '{key}' (found {sorted(data)})")
    value = np.asarray(data[key], np.float64)
    allowed = [tuple(num_frames if s is None else s for s in shape) for shape in shapes]
    if value.shape not in allowed:
        raise ClipError(f"{path}: '{key}' has shape {value.shape}, expected "
                        + " or ".join(str(s) for s in allowed))
    if not np.all(np.isfinite(value)):
        raise ClipError(f"{path}: '{key}' contains NaN or Inf")
    return value


def _check_rigid(transforms: np.ndarray, key: str, path: str) -> None:
    rot = transforms[:, :3, :3]
    ortho = np.abs(np.einsum("tji,tjk->tik", rot, rot) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(rot)
    bottom = np.abs(transforms[:, 3] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1)
    bad = np.nonzero((ortho > RIGID_ATOL) | (np.abs(det - 1.0) > RIGID_ATOL)
                     | (bottom > RIGID_ATOL))[0]
    if len(bad):
        t = int(bad[0])
        raise ClipError(f"{path}: '{key}' frame {t} is not a rigid transform (|R^T R - I| = "
                        f"{ortho[t]:.2e}, det R = {det[t]:.4f}, last row "
                        f"{np.round(transforms[t, 3], 4).tolist()})")


def _intrinsics(k_pix: np.ndarray, path: str) -> np.ndarray:
    k = k_pix[:, :3, :3]
    bad = np.nonzero((k[:, 0, 0] <= 0) | (k[:, 1, 1] <= 0)
                     | (np.abs(k[:, 2] - np.array([0.0, 0.0, 1.0])).max(axis=1) > 1e-6))[0]
    if len(bad):
        raise ClipError(f"{path}: 'K_pix' frame {int(bad[0])} is not a valid pinhole matrix "
                        f"(needs fx, fy > 0 and last row [0, 0, 1]): {k[bad[0]].tolist()}")
    return k


def _load_gt(path: str, num_frames: int) -> dict:
    data = _load_npz(path)
    gt = {
        "hTo": _array(data, "hTo", path, ((None, 4, 4),), num_frames),
        "cTh": _array(data, "cTh", path, ((None, 4, 4),), num_frames),
        "hA": _array(data, "hA", path, ((None, 45),), num_frames),
        "beta": _array(data, "beta", path, ((10,), (None, 10)), num_frames),
        "K": _intrinsics(_array(data, "K_pix", path, ((None, 3, 3), (None, 4, 4)),
                                num_frames), path),
    }
    _check_rigid(gt["hTo"], "hTo", path)
    _check_rigid(gt["cTh"], "cTh", path)
    return gt


def load_clip(path) -> Clip:
    """Reads and validates a clip folder; raises `ClipError` naming the file and problem."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ClipError(f"{path}: clip folder not found")
    obj_dir, hand_dir = os.path.join(path, "obj_mask"), os.path.join(path, "hand_mask")
    names = _frame_names(obj_dir)
    hand_names = _frame_names(hand_dir)
    if hand_names != names:
        raise ClipError(f"{hand_dir}: {len(hand_names)} frames do not match the "
                        f"{len(names)} frames of {obj_dir} (names must agree)")
    image_dir = os.path.join(path, "image")
    images = None
    if os.path.isdir(image_dir):
        image_names = _frame_names(image_dir)
        if image_names != names:
            raise ClipError(f"{image_dir}: {len(image_names)} frames do not match the "
                            f"{len(names)} mask frames (names must agree)")
        images = _read_frames(image_dir, names, "RGB")
    obj_mask = _read_frames(obj_dir, names, "L") > MASK_THRESHOLD
    hand_mask = _read_frames(hand_dir, names, "L") > MASK_THRESHOLD
    size = obj_mask.shape[1:]
    for folder, frames in ((hand_dir, hand_mask), (image_dir, images)):
        if frames is not None and frames.shape[1:3] != size:
            raise ClipError(f"{folder}: frames are {frames.shape[2]}x{frames.shape[1]}, the "
                            f"object masks {size[1]}x{size[0]}")
    for folder, mask, what in ((obj_dir, obj_mask, "object"), (hand_dir, hand_mask, "hand")):
        if not mask.any():
            raise ClipError(f"{folder}: the {what} mask is empty in every frame")

    num = len(names)
    cam_path = _pick(path, "cameras_hoi.npz", "cameras_hoi_smooth_100.npz")
    cams = _load_npz(cam_path)
    cTh = _array(cams, "cTw", cam_path, ((None, 4, 4),), num)
    _check_rigid(cTh, "cTw", cam_path)
    K = _intrinsics(_array(cams, "K_pix", cam_path, ((None, 3, 3), (None, 4, 4)), num),
                    cam_path)
    hands_path = _pick(path, "hands.npz", "hands_smooth_100.npz")
    hands = _load_npz(hands_path)
    hA = _array(hands, "hA", hands_path, ((None, 45),), num)
    beta = _array(hands, "beta", hands_path, ((None, 10), (10,)), num)
    beta = np.broadcast_to(beta, (num, 10)).copy()

    category = None
    text_path = os.path.join(path, "text.txt")
    if os.path.isfile(text_path):
        with open(text_path, encoding="utf-8") as f:
            category = f.read().strip() or None
    gt_path = os.path.join(path, "gt.npz")
    gt = _load_gt(gt_path, num) if os.path.isfile(gt_path) else None
    mesh_path = os.path.join(path, "oObj.obj")
    return Clip(obj_mask=obj_mask, hand_mask=hand_mask, cTh=cTh, K=K, hA=hA, beta=beta,
                images=images, category=category, frame_names=tuple(names),
                object_mesh_path=mesh_path if os.path.isfile(mesh_path) else None, gt=gt,
                path=path)


# ---------------------------------------------------------------------------------------
# Writing.

def _write_png(path: str, array: np.ndarray) -> None:
    Image.fromarray(np.asarray(array)).save(path)


def save_clip(path, *, obj_mask, hand_mask, cTh, K, hA, beta, images=None, category=None,
              object_mesh=None, gt=None, extras=None) -> str:
    """Writes a clip folder in the format above, atomically (a temp folder renamed at the
    end, so a failure leaves nothing half-written). Masks are (T,H,W) bool or [0,1]
    floats; object_mesh is a trimesh.Trimesh in the object frame (metres); gt a dict with
    hTo, cTh, hA, beta, K; extras {file name: writer(path)} for more files (e.g. the
    video front end's keypoints and previews). obj_mask None writes the hand part alone
    (no obj_mask/: not a clip `load_clip` reads; the video front end's --hands_only).
    Refuses to overwrite an existing folder. Returns the path."""
    path = os.fspath(path)
    if os.path.exists(path):
        raise ClipError(f"{path}: already exists; remove it or choose another --out")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".clip-", dir=parent)
    try:
        layers = [("obj_mask", obj_mask), ("hand_mask", hand_mask), ("image", images)]
        for name, frames in ((n, f) for n, f in layers if f is not None):
            os.makedirs(os.path.join(tmp, name))
            for t, frame in enumerate(np.asarray(frames)):
                if name != "image":
                    frame = (np.asarray(frame, np.float32) > 0.5).astype(np.uint8) * 255
                _write_png(os.path.join(tmp, name, f"{t:06d}.png"), frame)
        np.savez(os.path.join(tmp, "cameras_hoi.npz"), cTw=np.asarray(cTh, np.float32),
                 K_pix=np.asarray(K, np.float32))
        np.savez(os.path.join(tmp, "hands.npz"), hA=np.asarray(hA, np.float32),
                 beta=np.asarray(beta, np.float32))
        if category:
            with open(os.path.join(tmp, "text.txt"), "w", encoding="utf-8") as f:
                f.write(category + "\n")
        if object_mesh is not None:
            object_mesh.export(os.path.join(tmp, "oObj.obj"))
        if gt is not None:
            np.savez(os.path.join(tmp, "gt.npz"), hTo=gt["hTo"], cTh=gt["cTh"], hA=gt["hA"],
                     beta=gt["beta"], K_pix=gt["K"])
        for name, write in (extras or {}).items():
            write(os.path.join(tmp, name))
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
