"""2D hand keypoints of a video: MediaPipe's hand-landmark network on rotated square crops
(regions of interest, ROIs), seeded by a box or a search, tracked from frame to frame.

A ROI is (cx, cy, size, angle): a square of `size` pixels centred at (cx, cy) in the
image, turned by `angle` (radians, image axes x right, y down) so that the hand's wrist ->
middle-finger direction points up in the crop, as the network expects. A crop pixel (u, v)
of an S x S crop shows the image point c + R(angle) ((u + 1/2) / S - 1/2, (v + 1/2) / S -
1/2) size.

Keypoints are in the common 21-point order (wrist; thumb CMC, MCP, IP, tip; index MCP,
PIP, DIP, tip; middle, ring, pinky likewise), x, y in the input image's pixels. The
network returns one hand-presence probability per crop and no per-point confidence, so a
frame's 21 confidences are its presence.

Measured weakness (docs/video.md): MediaPipe's palm detector misses gripping hands, so
seeding searches ROIs around the given box over rotations and scales and keeps the one the
landmark network is surest of; the palm detector only adds proposals.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hoijax.video import weights

CROP = 224  # the landmark network's input size
DETECT = 192  # the palm detector's input size
WRIST, MIDDLE_MCP = 0, 9
SEARCH_ANGLES = np.deg2rad(np.arange(0, 360, 45))
SEARCH_SCALES = (1.2, 1.6, 2.2)  # ROI size / the box's longer side
TILE_ANGLES = np.deg2rad(np.arange(0, 360, 90))


@dataclasses.dataclass(frozen=True)
class Roi:
    cx: float
    cy: float
    size: float
    angle: float


def rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def crop_to_image(roi: Roi, uv: np.ndarray, crop: int = CROP) -> np.ndarray:
    """(N,2) crop pixel coordinates (continuous, 0..crop) -> (N,2) image coordinates."""
    offset = (np.asarray(uv, np.float64) / crop - 0.5) * roi.size
    return np.array([roi.cx, roi.cy]) + offset @ rotation(roi.angle).T


def image_to_crop(roi: Roi, xy: np.ndarray, crop: int = CROP) -> np.ndarray:
    """Inverse of `crop_to_image`."""
    offset = (np.asarray(xy, np.float64) - np.array([roi.cx, roi.cy])) @ rotation(roi.angle)
    return (offset / roi.size + 0.5) * crop


def crop_image(image: np.ndarray, roi: Roi, crop: int = CROP) -> np.ndarray:
    """(H,W,3) uint8 -> (crop,crop,3) float32 in [0,1], bilinear, black outside."""
    u = np.arange(crop) + 0.5
    grid = np.stack(np.meshgrid(u, u, indexing="xy"), -1).reshape(-1, 2)
    xy = crop_to_image(roi, grid, crop) - 0.5  # pixel centres sit at integer + 1/2
    return (bilinear(image, xy).reshape(crop, crop, 3) / 255.0).astype(np.float32)


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(H,W,C) image sampled at (N,2) continuous (x, y) pixel-centre coordinates ->
    (N,C) float32; zero outside the image."""
    h, w = image.shape[:2]
    x0, y0 = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
    fx, fy = (xy[:, 0] - x0)[:, None], (xy[:, 1] - y0)[:, None]
    out = np.zeros((len(xy), image.shape[2]), np.float32)
    for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                           (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        inside = ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h))[:, None]
        # Clipped indices read some pixel; `inside` zeroes what lies outside the image.
        out += weight * inside * image[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
    return out


def roi_from_keypoints(xy: np.ndarray, scale: float = 2.0, shift: float = -0.1) -> Roi:
    """The ROI of a hand's (21,2) keypoints (MediaPipe's tracking rule): turned so that the
    wrist -> middle MCP points up, the keypoints' box in that frame enlarged `scale` times
    (square) and moved by `shift` of its height along the hand's up direction."""
    d = xy[MIDDLE_MCP] - xy[WRIST]
    angle = float(np.arctan2(d[0], -d[1]))
    mean = xy.mean(0)
    local = (xy - mean) @ rotation(angle)
    lo, hi = local.min(0), local.max(0)
    centre = (lo + hi) / 2 + np.array([0.0, shift * (hi - lo)[1]])
    cx, cy = mean + rotation(angle) @ centre
    return Roi(float(cx), float(cy), float(scale * max(hi - lo)), angle)


class HandLandmarker:
    """The landmark network (and the palm detector) in LiteRT."""

    def __init__(self, threads: int | None = None):
        paths = weights.hand_model_paths()
        self.landmarks = weights.litert_interpreter(paths["landmarks"], threads)
        self.detector = weights.litert_interpreter(paths["detector"], threads)
        self.anchors = palm_anchors()

    def __call__(self, image: np.ndarray, roi: Roi):
        """-> (keypoints (21,2) image pixels, presence in [0,1], right-hand probability)."""
        net = self.landmarks
        net.set_tensor(net.get_input_details()[0]["index"], crop_image(image, roi)[None])
        net.invoke()
        out = {d["name"]: net.get_tensor(d["index"]) for d in net.get_output_details()}
        uv = out["Identity"].reshape(21, 3)[:, :2]
        return (crop_to_image(roi, uv), float(out["Identity_1"].ravel()[0]),
                float(out["Identity_2"].ravel()[0]))

    def palms(self, image: np.ndarray, threshold: float = 0.5) -> list:
        """Palm detections [(score, (x0,y0,x1,y1) palm box, wrist xy, middle-MCP xy)] in
        image pixels, best first (no suppression: the caller keeps a few)."""
        h, w = image.shape[:2]
        side = max(h, w)  # letterboxed into a square, as the detector was trained
        roi = Roi((w - 1) / 2 + 0.5, (h - 1) / 2 + 0.5, side, 0.0)
        net = self.detector
        # [0, 1] like the landmark network (read as [-1, 1], every anchor fires).
        net.set_tensor(net.get_input_details()[0]["index"], crop_image(image, roi, DETECT)[None])
        net.invoke()
        out = {d["name"]: net.get_tensor(d["index"]) for d in net.get_output_details()}
        return decode_palms(out["Identity"][0], out["Identity_1"][0, :, 0], self.anchors,
                            roi, threshold)


def palm_anchors() -> np.ndarray:
    """(2016,2) anchor centres (fractions of the input) of the palm detector: strides 8
    (2 anchors a cell) and 16 (6 a cell) on the 192 px input."""
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = DETECT // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n,
                             indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], -1)
        out.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(out)


def decode_palms(raw, logits, anchors, roi: Roi, threshold) -> list:
    """The detector's (2016,18) regressions and (2016,) logits -> palm list (`palms`)."""
    score = 1 / (1 + np.exp(-np.clip(logits, -80, 80)))
    found = []
    for i in np.argsort(-score)[:8]:
        if score[i] < threshold:
            break
        centre = anchors[i] * DETECT + raw[i, :2]
        half = raw[i, 2:4] / 2
        points = anchors[i] * DETECT + raw[i, 4:18].reshape(7, 2)
        corners = crop_to_image(roi, np.stack([centre - half, centre + half]), DETECT)
        keys = crop_to_image(roi, points[[0, 2]], DETECT)
        found.append((float(score[i]), tuple(corners.ravel()), keys[0], keys[1]))
    return found


def box_rois(box, scales=SEARCH_SCALES, angles=SEARCH_ANGLES) -> list:
    """Candidate ROIs around a box (x0, y0, x1, y1): every scale x angle, box-centred."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    return [Roi((x0 + x1) / 2, (y0 + y1) / 2, s * side, float(a))
            for s in scales for a in angles]


def palm_rois(palms) -> list:
    """Candidate ROIs of palm detections (MediaPipe's rule: the palm box turned by its
    wrist -> middle-MCP direction, 2.6 times as large, moved half its size up)."""
    out = []
    for _, (x0, y0, x1, y1), wrist, middle in palms:
        d = middle - wrist
        angle = float(np.arctan2(d[0], -d[1]))
        side = max(x1 - x0, y1 - y0)
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) + rotation(angle) @ [0, -0.5 * side]
        out.append(Roi(float(centre[0]), float(centre[1]), 2.6 * side, angle))
    return out


def refine(landmarker, image, roi: Roi, steps: int = 2, first=None):
    """Runs the network on roi (unless its answer is given as `first`), then `steps` times
    on the ROI of its own keypoints, keeping the surest answer: -> (keypoints (21,2),
    presence, right-hand probability, roi)."""
    best = (*(first or landmarker(image, roi)), roi)
    for _ in range(steps):
        roi = roi_from_keypoints(best[0])
        answer = (*landmarker(image, roi), roi)
        if answer[1] < best[1]:
            break
        best = answer
    return best


def tiles(height: int, width: int, fraction: float = 0.5) -> list:
    """Overlapping square boxes of `fraction` of the shorter side covering the image
    (stride half a tile)."""
    side = fraction * min(height, width)
    xs = np.arange(0, max(width - side, 0) + 1, side / 2)
    ys = np.arange(0, max(height - side, 0) + 1, side / 2)
    return [(x, y, x + side, y + side) for y in ys for x in xs]


def palm_proposals(landmarker, image, boxes, keep=6) -> list:
    """ROIs of the surest palm detections in the whole image and in each box (small
    hands vanish when a large frame shrinks to the detector's 192 px)."""
    found = list(landmarker.palms(image))
    for x0, y0, x1, y1 in boxes:
        x0, y0 = int(x0), int(y0)
        part = image[y0:int(y1), x0:int(x1)]
        for score, (a, b, c, d), wrist, middle in landmarker.palms(part):
            offset = np.array([x0, y0])
            found.append((score, (a + x0, b + y0, c + x0, d + y0), wrist + offset,
                          middle + offset))
    found.sort(key=lambda f: -f[0])
    return palm_rois(found[:keep])


def search(landmarker, image, box=None, palms=True):
    """The hand in an image without a previous frame: candidate ROIs around `box` (when
    given; else around tiles covering the image) and of palm detections (in the image
    and its tiles), each scored by the landmark network; the three surest refined, the
    surest kept. -> (keypoints (21,2), presence, right-hand probability, roi)."""
    h, w = image.shape[:2]
    if box is not None:
        boxes, candidates = [box], box_rois(box)
    else:  # fewer ROIs a tile: the palm detections carry most of the search
        boxes = tiles(h, w)
        candidates = [r for b in boxes for r in box_rois(b, (1.2, 2.0), TILE_ANGLES)]
    if palms:
        candidates += palm_proposals(landmarker, image, [] if box is not None else boxes)
    answers = [landmarker(image, r) for r in candidates]
    surest = sorted(range(len(candidates)), key=lambda i: -answers[i][1])[:3]
    results = [refine(landmarker, image, candidates[i], first=answers[i]) for i in surest]
    return max(results, key=lambda r: r[1])


def track(landmarker, frames, box=None, min_presence=0.5):
    """Keypoints of the hand in every frame (N,H,W,3): frame to frame from the previous
    keypoints' ROI, re-seeded by `search` (around `box` when given) where the network is
    unsure (presence < min_presence); then backwards, a frame still unsure is tried from
    its successor's ROI. -> keypoints (N,21,2) in the project's pixel convention (centres
    at integers), presence (N,), right-hand probability (N,)."""
    out, prev = [], None
    for image in frames:
        answer = None
        if prev is not None:
            answer = refine(landmarker, image, roi_from_keypoints(prev), steps=1)
            if answer[1] < min_presence:
                answer = None
        if answer is None:
            answer = search(landmarker, image, box)
        if answer[1] >= min_presence:
            prev = answer[0]
        out.append(answer)
    for t in range(len(out) - 2, -1, -1):
        if out[t][1] < min_presence <= out[t + 1][1]:
            answer = refine(landmarker, frames[t], roi_from_keypoints(out[t + 1][0]))
            out[t] = max(out[t], answer, key=lambda a: a[1])
    keypoints = np.stack([a[0] for a in out]) - 0.5  # crop pixels have edges at integers
    return keypoints, np.array([a[1] for a in out]), np.array([a[2] for a in out])
