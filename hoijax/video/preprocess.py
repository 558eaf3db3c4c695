"""A user's video -> a clip folder that `hoijax.data.clip.load_clip` reads (docs/video.md).

Stages: frames (`frames`), 2D hand keypoints (`keypoints`), MANO fitted to them
(`hand_fit`), masks (`masks`), the clip written atomically. The kept frames are cropped to
one square around the hand and the object and resized to `size`; the intrinsics follow the
crop. A left hand (by the network's handedness, or `hand="left"`) is mirrored: the clip
then shows the mirror image, with a right hand, which is what the reconstruction fits;
`hand_keypoints.npz` says so (`mirrored`).
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import skimage.draw
from PIL import Image

from hoijax import cli, viz
from hoijax.data.clip import save_clip
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand.model import mano_forward
from hoijax.video import frames as F
from hoijax.video import masks as M
from hoijax.video.hand_fit import fit_hand
from hoijax.video.keypoints import HandLandmarker, track

MIN_PRESENCE = 0.5  # the landmark network's hand presence below which a frame has no hand


@dataclasses.dataclass(frozen=True)
class Request:
    video: str
    out: str
    object_box: tuple | None = None  # (x0, y0, x1, y1) pixels of the first input frame
    object_masks: str | None = None  # folder: one mask per input frame
    hand_box: tuple | None = None  # (x0, y0, x1, y1): where to look for the hand first
    category: str | None = None
    hand: str = "auto"  # "auto" | "right" | "left"
    num_frames: int = 8
    hands_only: bool = False
    size: int = 256  # the clip's square frames (pixels)
    fov_deg: float = 65.0  # the camera's field of view across the longer side


def request_from_flags(video: str, out: str, values: dict, category) -> Request:
    """The Request of the shared video flags' values (`cli.define_video_flags`)."""
    return Request(video=video, out=out, category=category, hand=values["hand"],
                   object_box=cli.box(values["object_box"], "--object_box"),
                   object_masks=values["object_masks"],
                   hand_box=cli.box(values["hand_box"], "--hand_box"),
                   num_frames=values["num_frames"], hands_only=values["hands_only"],
                   fov_deg=values["fov_deg"])


def check_request(r: Request) -> None:
    """The refusals that need no decoding (VideoError naming the flag)."""
    if r.hand not in ("auto", "right", "left"):
        raise F.VideoError(f"--hand={r.hand}: use auto, right or left")
    if r.num_frames < 1:
        raise F.VideoError(f"--num_frames={r.num_frames}: must be at least 1")
    if not r.hands_only and r.object_masks is None:
        hint = ("a box alone needs a segmenter, which hoijax does not have yet"
                if r.object_box is not None else "no object given")
        raise F.VideoError(f"{hint}: pass --object_masks=DIR (one mask per input frame, "
                           "e.g. from SAM 2), or --hands_only for the hand alone")
    for flag, box in (("--object_box", r.object_box), ("--hand_box", r.hand_box)):
        if box is not None and (len(box) != 4 or box[0] >= box[2] or box[1] >= box[3]):
            raise F.VideoError(f"{flag}={','.join(map(str, box))}: x0,y0,x1,y1 with "
                               "x0 < x1 and y0 < y1 expected")


def check_box_in_frame(flag: str, box, shape) -> None:
    h, w = shape[:2]
    if box is not None and (box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h):
        raise F.VideoError(f"{flag}={','.join(map(str, box))}: outside the {w}x{h} frame")


def hand_side(requested: str, right_probability: np.ndarray) -> str:
    if requested != "auto":
        return requested
    return "right" if float(np.mean(right_probability)) >= 0.5 else "left"


def mirror(frames, keypoints, box, width):
    """Frames (N,H,W,...) flipped left-right, keypoints' x and a box with them."""
    keypoints = keypoints.copy()
    keypoints[..., 0] = width - 1 - keypoints[..., 0]
    box = None if box is None else (width - box[2], box[1], width - box[0], box[3])
    return frames[:, :, ::-1], keypoints, box


def mask_box(mask: np.ndarray):
    ys, xs = np.nonzero(mask)
    return None if len(xs) == 0 else (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def seed_box(r: Request):
    """Where the first search looks: the hand box, else twice the object box (a held
    object's hand is beside it), else nowhere in particular (the whole frame)."""
    if r.hand_box is not None:
        return r.hand_box
    if r.object_box is not None:
        x0, y0, x1, y1 = r.object_box
        cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
        return (cx - half, cy - half, cx + half, cy + half)
    return None


def locate_hand(r: Request, kept, indices, landmarker):
    """Keypoints of the kept frames; refuses when the hand is in fewer than half of them
    (naming the frames without it)."""
    keypoints, presence, right = track(landmarker, kept, seed_box(r), MIN_PRESENCE)
    missing = [int(i) for i, p in zip(indices, presence) if p < MIN_PRESENCE]
    if len(missing) * 2 > len(kept):
        raise F.VideoError(f"{r.video}: no hand found in input frames {missing} (of "
                           f"{len(kept)} kept); pass --hand_box=x0,y0,x1,y1 around the hand "
                           "in the first frame")
    return keypoints, presence, right, missing


def crop_box_of(keypoints, presence, object_masks, object_box):
    """The square around the confident hands, the object masks and the object box."""
    boxes = [(*k.min(0), *(k.max(0) + 1)) for k, p in zip(keypoints, presence)
             if p >= MIN_PRESENCE]
    if object_masks is not None:
        boxes += [b for b in map(mask_box, object_masks) if b is not None]
    if object_box is not None:
        boxes.append(object_box)
    return F.square_box(boxes, margin=1.3)


def hand_masks(model, fit, K, size):
    """(T,size,size) bool: the fitted hand's silhouette in each frame."""
    verts = np.asarray(mano_forward(model, fit["hA"], fit["betas"]).vertices)  # hand frame
    verts_c = apply_to_points(np.asarray(fit["cTh"], np.float64), verts)
    faces = np.asarray(model.faces)
    return np.stack([M.silhouette(v, faces, k, size) for v, k in zip(verts_c, K)])


def overlay(image, hand_mask, object_mask, keypoints, fitted):
    """One preview frame: the object mask orange, the hand mask green, the detected
    keypoints red and the fitted hand's joints yellow."""
    out = image.astype(np.float32)
    for mask, colour in ((object_mask, (255, 140, 0)), (hand_mask, (40, 220, 80))):
        if mask is not None:
            out[mask] = 0.55 * out[mask] + 0.45 * np.array(colour, np.float32)
    out = out.astype(np.uint8)
    size = image.shape[0]
    for points, colour in ((keypoints, (255, 40, 40)), (fitted, (255, 230, 0))):
        for x, y in points:
            rr, cc = skimage.draw.disk((y, x), max(size / 128, 1.5), shape=image.shape[:2])
            out[rr, cc] = colour
    return out


def preview(images, hand, objects, keypoints, fitted, titles, size=256) -> np.ndarray:
    """The kept frames with `overlay`, at least `size` pixels wide each, titled."""
    scale = max(1, -(-size // images.shape[1]))
    up = lambda a: np.repeat(np.repeat(a, scale, 1), scale, 2)  # noqa: E731
    objects = [None] * len(images) if objects is None else up(objects)
    keypoints, fitted = (keypoints + 0.5) * scale - 0.5, (fitted + 0.5) * scale - 0.5
    cells = [(title, overlay(*frame)) for title, *frame in
             zip(titles, up(images), up(hand), objects, keypoints, fitted)]
    return viz.titled_grid(cells, per_row=min(4, len(cells)), size=images.shape[1] * scale)


def scaled(box, scale):
    return None if box is None else tuple(v * scale for v in box)


def read_input(r: Request, log):
    """Frames, the kept ones and the object masks, with every input check. A video decoded
    smaller (`frames.read_frames`' scale) gets its boxes and masks scaled with it: -> the
    request with boxes in the decoded frames' pixels, kept frames, their input indices,
    object masks (T,H,W) bool or None, scale."""
    check_request(r)
    if os.path.exists(r.out):
        raise F.VideoError(f"--out={r.out}: already exists; remove it or choose another")
    decoded = F.read_frames(r.video, r.num_frames)
    kept, indices, scale = decoded.frames, decoded.indices, decoded.scale
    if decoded.note:
        log(decoded.note)
    shape = (round(kept.shape[1] / scale), round(kept.shape[2] / scale))  # the input's
    for flag, box in (("--object_box", r.object_box), ("--hand_box", r.hand_box)):
        check_box_in_frame(flag, box, shape)
    r = dataclasses.replace(r, object_box=scaled(r.object_box, scale),
                            hand_box=scaled(r.hand_box, scale))
    objects = None
    if r.object_masks:
        paths = M.read_mask_folder(r.object_masks, decoded.count, shape)
        objects = np.stack([M.load_mask(paths[i], kept.shape[1:3]) for i in indices])
        empty = [int(indices[t]) for t in range(len(objects)) if not objects[t].any()]
        if empty:
            raise F.VideoError(f"--object_masks={r.object_masks}: empty masks for input "
                               f"frames {empty}")
    log(f"{decoded.count} frames of {shape[1]}x{shape[0]}; keeping {len(indices)}")
    return r, kept, indices, objects, scale


def fit_clip(r: Request, model, kept, keypoints, presence, objects, object_box, log):
    """Crop, intrinsics, the MANO fit and the masks of the kept (right-hand) frames."""
    box = crop_box_of(keypoints, presence, objects, object_box)
    images = np.stack([F.crop(im, box, r.size) for im in kept])
    K0 = F.default_intrinsics(*kept.shape[1:3], r.fov_deg)
    K = np.tile(F.crop_intrinsics(K0, box, r.size), (len(kept), 1, 1))
    points = F.crop_points(keypoints, box, r.size)
    confidence = np.repeat(presence[:, None], 21, 1) * (presence[:, None] >= MIN_PRESENCE)
    fit = fit_hand(model, K, points, confidence)
    log(f"hand fitted: {np.mean(fit['error_px']):.1f} px mean keypoint error at "
        f"{r.size} px")
    hand = hand_masks(model, fit, K, r.size)
    obj = None
    if objects is not None:
        obj = np.stack([F.crop(m.astype(np.uint8) * 255, box, r.size, Image.NEAREST)
                        for m in objects]) > 127
        obj &= ~hand  # the visible object: the hand occludes it
    return dict(box=box, images=images, K=K, points=points, confidence=confidence,
                fit=fit, hand=hand, obj=obj)


def keypoint_record(keypoints, presence, indices, side, box, width, scale) -> dict:
    """hand_keypoints.npz: keypoints (T,21,3) x, y in the input frames' pixels and a
    confidence; frame_index (T,); mirrored; crop_box (4,) of the (mirrored, decoded)
    frames; decode_scale (the decoded frames' size over the input's)."""
    xy = keypoints.copy()
    if side == "left":  # back to the input frames
        xy[..., 0] = width - 1 - xy[..., 0]
    xy = (xy + 0.5) / scale - 0.5
    confidence = np.repeat(presence[:, None, None], 21, 1)
    return dict(keypoints=np.concatenate([xy, confidence], -1).astype(np.float32),
                frame_index=np.asarray(indices, np.int32), mirrored=side == "left",
                crop_box=np.asarray(box, np.float32), decode_scale=np.float32(scale))


def extras(record, picture) -> dict:
    return {"hand_keypoints.npz": lambda path: np.savez(path, **record),
            "preview.png": lambda path: Image.fromarray(picture).save(path)}


def preprocess(r: Request, model, landmarker=None, log=print) -> dict:
    """Runs every stage and writes r.out; returns a summary (frames, side, fit error).
    model: a ManoModel, or a function returning one (called once the inputs have passed
    their checks and the hand has been found)."""
    r, kept, indices, objects, scale = read_input(r, log)
    landmarker = landmarker or HandLandmarker()
    keypoints, presence, right, missing = locate_hand(r, kept, indices, landmarker)
    model = model() if callable(model) else model
    side = hand_side(r.hand, right[presence >= MIN_PRESENCE])
    object_box = r.object_box
    if side == "left":
        log("a left hand: the clip shows the frames mirrored (a right hand)")
        kept, keypoints, object_box = mirror(kept, keypoints, object_box, kept.shape[2])
        objects = None if objects is None else objects[:, :, ::-1]
    clip = fit_clip(r, model, kept, keypoints, presence, objects, object_box, log)
    record = keypoint_record(keypoints, presence, indices, side, clip["box"], kept.shape[2],
                             scale)
    fitted = clip["fit"]["uv"]
    titles = [f"frame {i}: hand {p:.2f}, fit {e:.1f} px"
              for i, p, e in zip(indices, presence, clip["fit"]["error_px"])]
    picture = preview(clip["images"], clip["hand"], clip["obj"], clip["points"], fitted,
                      titles)
    save_clip(r.out, obj_mask=clip["obj"], hand_mask=clip["hand"], cTh=clip["fit"]["cTh"],
              K=clip["K"], hA=clip["fit"]["hA"], beta=clip["fit"]["betas"],
              images=clip["images"], category=r.category, extras=extras(record, picture))
    log(f"wrote {r.out} ({len(kept)} frames, {side} hand; preview {r.out}/preview.png)")
    return dict(frames=[int(i) for i in indices], side=side, missing=missing,
                error_px=float(np.mean(clip["fit"]["error_px"])))


def video_clip(video: str, out: str, values: dict, category, model) -> str:
    """`reconstruct --video`: the clip folder OUT/clip, preprocessed now unless a previous
    run left it there."""
    path = os.path.join(out, "clip")
    if os.path.isdir(path):
        print(f"reusing {path} (delete it to preprocess {video} again)")
        return path
    r = request_from_flags(video, path, values, category)
    if r.hands_only:
        raise F.VideoError("--hands_only writes no object: use python -m hoijax.preprocess")
    preprocess(r, model)
    return path
