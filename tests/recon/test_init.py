"""Tests for the robust trajectory initialisation."""
import numpy as np
from scipy.spatial.transform import Rotation

from hoijax.data.synthetic.clips import TrackerNoise, corrupt_estimates
from hoijax.geometry.transforms import apply_to_points
from hoijax.recon.trajectory import hand_joints, initialise_trajectory


def _truth(T=12):
    """A camera sweeping 60 degrees around a still hand, 40 cm away."""
    cTh = np.tile(np.eye(4), (T, 1, 1))
    angles = np.linspace(-0.5, 0.5, T)
    cTh[:, :3, :3] = Rotation.from_rotvec(np.outer(angles, [0, 1, 0])).as_matrix()
    cTh[:, :3, 3] = [0.0, 0.0, 0.4]
    return cTh


def test_failures_are_detected_and_the_trajectory_gets_closer(standin_right):
    T = 12
    truth = _truth(T)
    hA, beta = np.zeros((T, 45)), np.zeros((T, 10))
    joints_h = hand_joints(standin_right, hA, beta)
    centre = joints_h[0].mean(0)
    rng = np.random.default_rng(0)
    est = corrupt_estimates(truth, hA, beta[0], centre, TrackerNoise(failure_rate=0.0), rng)
    noisy = est["cTh"]
    failed_frames = [3, 8]
    for t in failed_frames:  # gross failures: 50 degrees and 6 cm off
        turn = Rotation.from_rotvec([0.0, 0.0, np.deg2rad(50)]).as_matrix()
        noisy[t, :3, :3] = turn @ noisy[t, :3, :3]
        noisy[t, 2, 3] += 0.06
    out = initialise_trajectory(standin_right, noisy, hA, beta)
    assert sorted(np.nonzero(out["failed"])[0].tolist()) == failed_frames

    def error(cTh):
        diff = apply_to_points(cTh, joints_h) - apply_to_points(truth, joints_h)
        return np.linalg.norm(diff, axis=-1)

    before, after = error(noisy), error(out["cTh"])
    assert after.max() < 0.03 < before.max()  # no gross failure survives
    assert after.mean() < before.mean()
    rot = out["cTh"][:, :3, :3]
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.tile(np.eye(3), (T, 1, 1)),
                               atol=1e-5)
