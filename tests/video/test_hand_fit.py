"""hoijax.video.hand_fit: MANO recovered from the noisy projections of a known hand."""
import jax.numpy as jnp
import numpy as np

from hoijax.geometry.camera import project
from hoijax.hand import load_hand_model
from hoijax.video import hand_fit as F


def test_fit_recovers_a_known_hand():
    """8 frames of one grasp (random PCA articulation) turning and moving in front of a
    640x480 camera; keypoints = true projections + 2 px noise. The fit reprojects within
    the noise and its root-relative joints (scale aligned: monocular depth is unseen)
    are within 15 mm of the truth."""
    model = load_hand_model("right")
    rng = np.random.default_rng(0)
    T = 8
    pca = np.tile(rng.normal(0, 0.8, (1, F.NUM_PCA)), (T, 1)).astype(np.float32)
    rot = (np.tile(rng.normal(0, 1.2, (1, 3)), (T, 1))
           + rng.normal(0, 0.05, (T, 3))).astype(np.float32)
    trans = (np.array([0.02, -0.01, 0.45]) + rng.normal(0, 0.01, (T, 3))).astype(np.float32)
    K = np.tile(np.array([[500, 0, 320], [0, 500, 240], [0, 0, 1]], np.float32), (T, 1, 1))
    joints = np.asarray(F.keypoint_joints(model, jnp.asarray(rot), jnp.asarray(trans),
                                          jnp.asarray(pca), jnp.zeros(10)))
    uv = np.asarray(project(jnp.asarray(joints), jnp.asarray(K))[0])
    fit = F.fit_hand(model, K, uv + rng.normal(0, 2.0, uv.shape), np.ones((T, 21)))
    assert np.all(fit["error_px"] < 4.0), fit["error_px"]
    true_rel, fit_rel = joints - joints[:, :1], fit["joints"] - fit["joints"][:, :1]
    scale = np.sum(true_rel * fit_rel) / np.sum(fit_rel * fit_rel)
    error = np.linalg.norm(scale * fit_rel - true_rel, axis=-1).mean()
    assert error < 0.015, error
    # The clip convention: cTh rigid, hA the full articulation (flat-hand mean).
    R = fit["cTh"][:, :3, :3]
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.tile(np.eye(3), (T, 1, 1)),
                               atol=1e-5)
    assert fit["hA"].shape == (T, 45) and fit["betas"].shape == (10,)
