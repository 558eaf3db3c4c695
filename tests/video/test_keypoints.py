"""hoijax.video.keypoints: ROI geometry (exact), the palm detector's anchors, and the hand
networks on the synthetic world's rendered frames (the keypoints against the projected
true joints)."""
import numpy as np
import pytest

from hoijax.geometry.transforms import apply_to_points
from hoijax.hand.model import OPENPOSE_ORDER, mano_forward
from hoijax.video import keypoints as KP


def test_roi_maps_are_inverse_and_rotate_the_crop():
    roi = KP.Roi(120.0, 80.0, 64.0, np.deg2rad(30))
    uv = np.random.default_rng(0).uniform(0, 224, (50, 2))
    np.testing.assert_allclose(KP.image_to_crop(roi, KP.crop_to_image(roi, uv)), uv,
                               atol=1e-9)
    # The crop's centre is the ROI's centre; its "up" is the image direction turned by 30
    # degrees clockwise from up (x right, y down).
    np.testing.assert_allclose(KP.crop_to_image(roi, [[112, 112]]), [[120, 80]])
    up = KP.crop_to_image(roi, [[112, 0]])[0] - [120, 80]
    np.testing.assert_allclose(up / np.linalg.norm(up), [np.sin(np.pi / 6),
                                                         -np.cos(np.pi / 6)], atol=1e-9)


def test_crop_samples_the_image_where_the_map_says():
    image = np.zeros((200, 300, 3), np.uint8)
    image[100:106, 200:206] = 255  # a square whose centre is at edge coordinates (203, 103)
    roi = KP.Roi(190.0, 110.0, 60.0, np.deg2rad(-40))
    crop = KP.crop_image(image, roi)
    ys, xs = np.nonzero(crop[..., 0] > 0.5)
    centre = KP.crop_to_image(roi, [[xs.mean() + 0.5, ys.mean() + 0.5]])[0]
    np.testing.assert_allclose(centre, [203, 103], atol=0.5)


def test_roi_of_keypoints_points_the_hand_up():
    xy = np.zeros((21, 2))
    xy[:, 0] = np.linspace(0, 40, 21)  # a hand lying along +x: wrist at x=0
    xy[:, 1] = 50.0 + np.sin(np.arange(21))
    xy[KP.WRIST] = [0, 50]
    xy[KP.MIDDLE_MCP] = [20, 50]
    roi = KP.roi_from_keypoints(xy)
    np.testing.assert_allclose(roi.angle, np.pi / 2, atol=1e-9)  # up in the crop = +x


def test_palm_anchors_match_the_detector_output():
    anchors = KP.palm_anchors()
    assert anchors.shape == (2016, 2)
    assert anchors.min() > 0 and anchors.max() < 1


@pytest.fixture(scope="module")
def landmarker():
    pytest.importorskip("ai_edge_litert")
    return KP.HandLandmarker(threads=1)


def projected_joints(clip):
    """(T,21,2) the true joints of a synthetic clip in its frames (keypoint order)."""
    gt = clip.gt
    joints = np.asarray(mano_forward(clip_model(), gt["hA"], gt["beta"]).joints)
    uvw = np.einsum("tij,tkj->tki", clip.K, apply_to_points(gt["cTh"], joints))
    return (uvw[..., :2] / uvw[..., 2:])[:, list(OPENPOSE_ORDER)]


def clip_model():
    from hoijax.hand import load_hand_model
    return load_hand_model("right")


def test_tracked_keypoints_match_the_true_joints(landmarker, synthetic_video_clip):
    """The rendered stand-in hand of the synthetic world, found without a box: in at least
    3 of the 4 frames (the first shows the hand edge-on, where the network is unsure),
    and most keypoints of those within 0.2 of the hand's size of the truth."""
    from hoijax.data.clip import load_clip
    clip = load_clip(synthetic_video_clip)
    keypoints, presence, right = KP.track(landmarker, clip.images)
    truth = projected_joints(clip)
    size = np.linalg.norm(truth.max(1) - truth.min(1), axis=-1)
    found = presence > 0.5
    assert found.sum() >= 3, presence
    near = np.linalg.norm(keypoints - truth, axis=-1) < 0.2 * size[:, None]
    pck = np.mean(near[found])
    assert np.mean(right[found]) > 0.5, right  # the clip-level decision: a right hand
    assert pck > 0.8, pck


def test_palm_detector_finds_the_rendered_palm(landmarker, synthetic_video_clip):
    """On the frames where the landmark network sees the hand, the surest palm detection's
    wrist -> middle-MCP segment lies on the hand (within 0.3 of its size of the true
    joints), and no more than a handful of anchors fire (an input read in the wrong range
    makes every anchor fire far away)."""
    from hoijax.data.clip import load_clip
    clip = load_clip(synthetic_video_clip)
    truth = projected_joints(clip)
    hits = 0
    for image, joints in zip(clip.images, truth):
        palms = landmarker.palms(image)
        if not palms:
            continue
        _, _, wrist, middle = palms[0]
        size = np.max(joints.max(0) - joints.min(0))
        near = [np.linalg.norm(middle - joints[KP.MIDDLE_MCP]) < 0.3 * size,
                np.linalg.norm(wrist - joints[KP.WRIST]) < 0.3 * size]
        hits += all(near)
    assert hits >= 2, hits
