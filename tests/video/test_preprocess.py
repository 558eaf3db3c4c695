"""hoijax.video.preprocess and its CLIs: a synthetic clip's frames as the user's video
(with its object masks) -> a clip that loads and reconstructs; the bad inputs, each one
line before any work."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from hoijax.data.clip import load_clip
from hoijax.video import frames as F
from hoijax.video.preprocess import Request, preprocess
from tests.test_cli import one_error_line, run

pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def preprocessed(synthetic_video_clip, tmp_path_factory):
    from hoijax.hand import load_hand_model
    out = str(tmp_path_factory.mktemp("pre") / "clip")
    summary = preprocess(Request(video=os.path.join(synthetic_video_clip, "image"), out=out,
                                 object_masks=os.path.join(synthetic_video_clip, "obj_mask"),
                                 category="mug", size=128),
                         load_hand_model("right"), log=lambda *a: None)
    return out, summary


def test_the_written_clip_loads_with_keypoints_and_preview(preprocessed, synthetic_video_clip):
    out, summary = preprocessed
    clip = load_clip(out)
    assert clip.num_frames == 4 and clip.image_size == (128, 128)
    assert clip.category == "mug" and summary["side"] == "right"
    record = np.load(os.path.join(out, "hand_keypoints.npz"))
    assert record["keypoints"].shape == (4, 21, 3)
    np.testing.assert_array_equal(record["frame_index"], np.arange(4))
    assert not record["mirrored"]
    assert os.path.isfile(os.path.join(out, "preview.png"))
    # The hand mask drawn from the fit against the renderer's true hand mask, in the crop.
    truth = load_clip(synthetic_video_clip).hand_mask
    box = record["crop_box"]
    truth = np.stack([F.crop(m.astype(np.uint8) * 255, box, 128, Image.NEAREST) > 127
                      for m in truth])
    found = record["keypoints"][:, 0, 2] > 0.5
    iou = (np.sum(truth & clip.hand_mask, (1, 2)) / np.sum(truth | clip.hand_mask, (1, 2)))
    # (An edge-on view, the first frame here, can be fitted with the fingers turned: 0.5.)
    assert np.median(iou[found]) > 0.7 and np.all(iou[found] > 0.4), iou
    # The object mask is the user's, cropped, with the hand cut out.
    assert not np.any(clip.obj_mask & clip.hand_mask)


def test_reconstruct_video_reuses_the_preprocessed_clip(preprocessed, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(preprocessed[0], out / "clip")
    result = run("hoijax.reconstruct", "--video=unused.mp4", f"--out={out}",
                 "--config=configs/reconstruct.py:tiny", "--config.num_steps=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "reusing" in result.stdout
    assert (out / "object.obj").is_file() and (out / "params.npz").is_file()


def test_hands_only_from_the_cli(synthetic_video_clip, tmp_path):
    result = run("hoijax.preprocess", f"--video={synthetic_video_clip}/image/000001.png",
                 f"--out={tmp_path / 'hand'}", "--hands_only")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("hands.npz", "cameras_hoi.npz", "hand_keypoints.npz", "preview.png"):
        assert (tmp_path / "hand" / name).is_file(), name


def test_bad_inputs_are_one_line_before_any_work(synthetic_video_clip, tmp_path):
    images = f"--video={synthetic_video_clip}/image"
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.zeros((128, 128), np.uint8)).save(masks / "0.png")
    cases = [
        ((images, f"--object_masks={masks}"), ("1 mask images for 4 frames",)),
        ((images, "--object_box=10,10,300,90"), ("a box alone needs a segmenter",)),
        ((images, "--hands_only", "--hand_box=10,10,300,90"), ("outside the 128x128",)),
        ((images, "--hands_only", "--hand_box=50,10,20,90"), ("x0 < x1",)),
        ((f"--video={tmp_path}/none.mp4", "--hands_only"), ("no such file",)),
    ]
    for args, fragments in cases:
        one_error_line(run("hoijax.preprocess", *args, f"--out={tmp_path / 'o'}"),
                       *fragments)
    blank = tmp_path / "blank"
    blank.mkdir()
    for t in range(2):
        Image.fromarray(np.full((96, 96, 3), 128, np.uint8)).save(blank / f"{t}.png")
    # Found only after the search has run (LiteRT prints one line of its own first).
    result = run("hoijax.preprocess", f"--video={blank}", "--hands_only",
                 f"--out={tmp_path / 'o'}")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "no hand found in input frames [0, 1]" in last
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
