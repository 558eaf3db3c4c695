"""hoijax.video.frames: decoding (rotation metadata), folders, kept frames, crops and the
intrinsics that follow them."""
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from hoijax.video import frames as F


def write_video(path, frames, rotation=None):
    """frames (N,H,W,3) uint8 -> an mp4 (lossless H.264), optionally with rotation
    metadata as a phone writes it."""
    n, h, w, _ = frames.shape
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "10", "-i", "-", "-c:v", "libx264",
           "-qp", "0", "-pix_fmt", "yuv444p", str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True)
    if rotation is not None:
        rotated = str(path) + ".rot.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                        "-display_rotation", str(rotation), "-i", str(path), "-c", "copy",
                        rotated], check=True)
        return rotated
    return str(path)


def marked_frames(n=5, h=48, w=64):
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, :12, :16] = 255  # a white block in the top-left corner
    for t in range(n):
        frames[t, -4:, :] = 20 * t  # a frame counter in the bottom rows
    return frames


def test_video_decodes_every_frame(tmp_path):
    decoded = F.read_frames(write_video(tmp_path / "v.mp4", marked_frames()))
    frames, note, scale = decoded.frames, decoded.note, decoded.scale
    assert frames.shape == (5, 48, 64, 3) and note == "" and scale == 1.0
    assert np.all(frames[:, :12, :16] > 200)
    np.testing.assert_allclose(frames[:, -2, 30, 0], 20 * np.arange(5), atol=6)


def test_rotation_metadata_is_applied(tmp_path):
    """A 90 degree display rotation (counter-clockwise) turns the landscape frames into
    portrait ones with the top-left block at the bottom left."""
    decoded = F.read_frames(write_video(tmp_path / "v.mp4", marked_frames(), rotation=90))
    frames, scale = decoded.frames, decoded.scale
    assert frames.shape == (5, 64, 48, 3) and scale == 1.0
    assert np.all(frames[:, -12:, :12] > 200) and np.all(frames[:, :12, :12] < 60)


def test_a_long_video_is_subsampled_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(F, "MAX_DECODED", 4)
    path = write_video(tmp_path / "v.mp4", marked_frames(12))
    decoded = F.decode_video(path, max_frames=4)
    assert len(decoded.frames) == 4 and "4 decoded" in decoded.note


def test_a_large_video_is_decoded_smaller_with_its_scale(tmp_path):
    path = write_video(tmp_path / "v.mp4", marked_frames(2, 48, 64), rotation=90)
    decoded = F.decode_video(path, max_side=32)
    frames, note, scale = decoded.frames, decoded.note, decoded.scale
    assert frames[0].shape == (32, 24, 3) and scale == 0.5 and "48x64" in note


def test_folder_and_single_image(tmp_path):
    for t, frame in enumerate(marked_frames(3)):
        Image.fromarray(frame).save(tmp_path / f"{t:03d}.png")
    frames = F.read_frames(str(tmp_path)).frames
    assert frames.shape == (3, 48, 64, 3)
    one = F.read_frames(str(tmp_path / "001.png")).frames
    assert one.shape == (1, 48, 64, 3)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "no images"),
    (lambda p: p.write_text("not a video"), "not a video"),
    (lambda p: None, "no such file"),
])
def test_bad_inputs_are_named(tmp_path, make, message):
    path = tmp_path / "input.mov"
    make(path)
    with pytest.raises(F.VideoError, match=message):
        F.read_frames(str(path))


def test_kept_indices_spread_over_the_clip():
    np.testing.assert_array_equal(F.kept_indices(100, 5), [0, 25, 50, 74, 99])
    np.testing.assert_array_equal(F.kept_indices(3, 8), [0, 1, 2])


def test_crop_intrinsics_follow_the_crop():
    """A 3D point projects to the same image content before and after a crop + resize:
    its pixel in the crop equals the crop map of its pixel in the frame."""
    K = F.default_intrinsics(480, 640, 65.0)
    box = (250, 150, 450, 350)
    Kc = F.crop_intrinsics(K, box, 128)
    point = np.array([0.03, -0.02, 0.5])
    u, v = (K @ point)[:2] / point[2]
    uc, vc = (Kc @ point)[:2] / point[2]
    s = 128 / 200
    np.testing.assert_allclose([uc, vc], [s * (u + 0.5 - 250) - 0.5, s * (v + 0.5 - 150) - 0.5])
    image = np.zeros((480, 640, 3), np.uint8)
    image[int(round(v)) - 3:int(round(v)) + 4, int(round(u)) - 3:int(round(u)) + 4] = 255
    crop = F.crop(image, box, 128)
    ys, xs = np.nonzero(crop[..., 0] > 100)
    assert abs(xs.mean() - uc) < 1.0 and abs(ys.mean() - vc) < 1.0
