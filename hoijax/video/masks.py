"""Masks of the preprocessed clip: the fitted hand's silhouette, and object masks read
from a user's folder (any tool's: SAM 2, an annotator) and matched to the kept frames."""
from __future__ import annotations

import os

import numpy as np
import skimage.draw
from PIL import Image

from hoijax.video.frames import IMAGE_SUFFIXES, VideoError


def silhouette(verts_c: np.ndarray, faces: np.ndarray, K: np.ndarray, size: int):
    """(size,size) bool: the pixels whose centres fall inside a projected triangle of a
    mesh (verts_c (V,3) camera frame, in front of the camera)."""
    uvw = verts_c @ K.T
    uv = uvw[:, :2] / np.maximum(uvw[:, 2:], 1e-6)
    mask = np.zeros((size, size), bool)
    for tri in uv[faces]:
        rr, cc = skimage.draw.polygon(tri[:, 1], tri[:, 0], shape=(size, size))
        mask[rr, cc] = True
    return mask


def read_mask_folder(folder: str, count: int, shape: tuple) -> list:
    """The mask image paths of `folder` (sorted by name): one per input frame (`count`),
    each of the frames' size `shape` (H, W); else VideoError naming what differs."""
    if not os.path.isdir(folder):
        raise VideoError(f"--object_masks={folder}: not a folder")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    if len(names) != count:
        raise VideoError(f"--object_masks={folder}: {len(names)} mask images for {count} "
                         "frames (one mask per input frame, sorted by name)")
    paths = [os.path.join(folder, n) for n in names]
    for path in (paths[0], paths[-1]):
        with Image.open(path) as im:
            if (im.height, im.width) != tuple(shape):
                raise VideoError(f"{path}: {im.width}x{im.height}, the frames are "
                                 f"{shape[1]}x{shape[0]}")
    return paths


def load_mask(path: str, shape=None) -> np.ndarray:
    """(H,W) bool: > 127 in the image's grey level; resized (nearest) to `shape` (H, W)
    when given (the frames of a video decoded smaller)."""
    with Image.open(path) as im:
        grey = im.convert("L")
        if shape is not None and grey.size != (shape[1], shape[0]):
            grey = grey.resize((shape[1], shape[0]), Image.NEAREST)
        return np.asarray(grey) > 127
