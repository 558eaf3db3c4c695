"""Tests for hoijax.data.clip: round trip, DiffHOI names, and every kind of bad input."""
import os
import shutil

import numpy as np
import pytest
import trimesh
from PIL import Image
from scipy.spatial.transform import Rotation

from hoijax.data.clip import ClipError, load_clip, save_clip

T, H, W = 3, 12, 16


def _rigid(seed, n=T):
    rng = np.random.default_rng(seed)
    out = np.tile(np.eye(4), (n, 1, 1))
    out[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    out[:, :3, 3] = rng.normal(size=(n, 3))
    return out


def _clip_arrays():
    rng = np.random.default_rng(0)
    obj = np.zeros((T, H, W), bool)
    obj[:, 3:8, 4:9] = True
    hand = np.zeros((T, H, W), bool)
    hand[:, 6:11, 8:14] = True
    K = np.tile(np.array([[20.0, 0, 7.5], [0, 20.0, 5.5], [0, 0, 1]]), (T, 1, 1))
    return dict(obj_mask=obj, hand_mask=hand, cTh=_rigid(1), K=K,
                hA=rng.normal(size=(T, 45)), beta=rng.normal(size=(T, 10)),
                images=rng.integers(0, 255, size=(T, H, W, 3), dtype=np.uint8),
                category="mug", object_mesh=trimesh.creation.box((0.1, 0.1, 0.1)),
                gt=dict(hTo=_rigid(2), cTh=_rigid(3), hA=rng.normal(size=(T, 45)),
                        beta=rng.normal(size=10), K=K))


@pytest.fixture(scope="module")
def good_clip(tmp_path_factory):
    return save_clip(tmp_path_factory.mktemp("clips") / "good", **_clip_arrays())


@pytest.fixture
def clip(good_clip, tmp_path):
    """A fresh copy of the good clip, to break."""
    return shutil.copytree(good_clip, tmp_path / "clip")


def test_round_trip(good_clip):
    arrays = _clip_arrays()
    clip = load_clip(good_clip)
    assert clip.num_frames == T and clip.image_size == (H, W) and clip.category == "mug"
    np.testing.assert_array_equal(clip.obj_mask, arrays["obj_mask"])
    np.testing.assert_array_equal(clip.hand_mask, arrays["hand_mask"])
    np.testing.assert_array_equal(clip.images, arrays["images"])
    np.testing.assert_allclose(clip.cTh, arrays["cTh"], atol=1e-6)
    np.testing.assert_allclose(clip.hA, arrays["hA"], atol=1e-6)
    np.testing.assert_allclose(clip.gt["hTo"], arrays["gt"]["hTo"], atol=1e-12)
    assert clip.object_mesh_path.endswith("oObj.obj")


def test_diffhoi_smooth_names_and_optional_parts(clip):
    os.rename(clip / "cameras_hoi.npz", clip / "cameras_hoi_smooth_100.npz")
    os.rename(clip / "hands.npz", clip / "hands_smooth_100.npz")
    for name in ("text.txt", "gt.npz", "oObj.obj"):
        os.remove(clip / name)
    shutil.rmtree(clip / "image")
    data = dict(np.load(clip / "cameras_hoi_smooth_100.npz"))
    k4 = np.tile(np.eye(4), (T, 1, 1))
    k4[:, :3, :3] = data["K_pix"]
    np.savez(clip / "cameras_hoi_smooth_100.npz", cTw=data["cTw"], K_pix=k4)  # (T,4,4) K
    loaded = load_clip(clip)
    assert loaded.category is None and loaded.gt is None and loaded.images is None
    assert loaded.K.shape == (T, 3, 3)


def test_save_refuses_to_overwrite_and_leaves_nothing_on_failure(good_clip, tmp_path):
    with pytest.raises(ClipError, match="already exists"):
        save_clip(good_clip, **_clip_arrays())
    arrays = _clip_arrays()
    arrays["gt"] = {"hTo": arrays["gt"]["hTo"]}  # incomplete: fails half way
    with pytest.raises(KeyError):
        save_clip(tmp_path / "half", **arrays)
    assert os.listdir(tmp_path) == []


def _npz_replace(path, **changes):
    data = dict(np.load(path))
    data.update(changes)
    np.savez(path, **data)


def _break(clip, case):
    """Breaks a clip copy; returns the file the error message must name."""
    if case == "no_folder":
        shutil.rmtree(clip)
        return "clip folder not found"
    if case == "no_obj_mask":
        shutil.rmtree(clip / "obj_mask")
        return "obj_mask: missing folder"
    if case == "hand_frame_missing":
        os.remove(clip / "hand_mask" / "000002.png")
        return "hand_mask: 2 frames"
    if case == "image_frame_missing":
        os.remove(clip / "image" / "000001.png")
        return "image: 2 frames"
    if case == "unreadable":
        (clip / "obj_mask" / "000001.png").write_bytes(b"not a png")
        return "obj_mask/000001.png: unreadable image"
    if case == "frame_size":
        Image.fromarray(np.zeros((H, W + 2), np.uint8)).save(clip / "hand_mask" / "000001.png")
        return "hand_mask/000001.png: size 18x12"
    if case == "mask_vs_image_size":
        for t in range(T):
            Image.fromarray(np.zeros((H + 1, W, 3), np.uint8)).save(
                clip / "image" / f"{t:06d}.png")
        return "image: frames are 16x13"
    if case == "empty_object":
        for t in range(T):
            Image.fromarray(np.zeros((H, W), np.uint8)).save(clip / "obj_mask" / f"{t:06d}.png")
        return "obj_mask: the object mask is empty in every frame"
    if case == "hands_count":
        _npz_replace(clip / "hands.npz", hA=np.zeros((T + 1, 45)))
        return r"hands.npz: 'hA' has shape \(4, 45\)"
    if case == "hands_nan":
        hA = np.zeros((T, 45))
        hA[1, 3] = np.nan
        _npz_replace(clip / "hands.npz", hA=hA)
        return "hands.npz: 'hA' contains NaN"
    if case == "beta_shape":
        _npz_replace(clip / "hands.npz", beta=np.zeros((T, 9)))
        return r"hands.npz: 'beta' has shape \(3, 9\)"
    if case == "no_cameras":
        os.remove(clip / "cameras_hoi.npz")
        return "cameras_hoi.npz: missing file"
    if case == "nonrigid":
        cTw = _rigid(1)
        cTw[1, :3, :3] *= 2.0
        _npz_replace(clip / "cameras_hoi.npz", cTw=cTw)
        return "cameras_hoi.npz: 'cTw' frame 1 is not a rigid transform"
    if case == "singular":
        cTw = _rigid(1)
        cTw[2, :3, :3] = 0.0
        _npz_replace(clip / "cameras_hoi.npz", cTw=cTw)
        return "cameras_hoi.npz: 'cTw' frame 2 is not a rigid transform"
    if case == "bad_K":
        K = np.tile(np.eye(3), (T, 1, 1))
        K[0, 0, 0] = 0.0
        _npz_replace(clip / "cameras_hoi.npz", K_pix=K)
        return "cameras_hoi.npz: 'K_pix' frame 0 is not a valid pinhole matrix"
    if case == "gt_nonrigid":
        hTo = _rigid(2)
        hTo[0, 3, 3] = 2.0
        _npz_replace(clip / "gt.npz", hTo=hTo)
        return "gt.npz: 'hTo' frame 0 is not a rigid transform"
    if case == "gt_missing_key":
        data = dict(np.load(clip / "gt.npz"))
        del data["cTh"]
        np.savez(clip / "gt.npz", **data)
        return "gt.npz: missing array 'cTh'"
    raise ValueError(case)


CASES = ["no_folder", "no_obj_mask", "hand_frame_missing", "image_frame_missing",
         "unreadable", "frame_size", "mask_vs_image_size", "empty_object", "hands_count",
         "hands_nan", "beta_shape", "no_cameras", "nonrigid", "singular", "bad_K",
         "gt_nonrigid", "gt_missing_key"]


@pytest.mark.parametrize("case", CASES)
def test_bad_clips_are_refused_naming_the_file(clip, case):
    message = _break(clip, case)
    with pytest.raises(ClipError, match=message):
        load_clip(clip)
