"""Tests for grasp synthesis (one solid category, to keep the suite fast)."""
import numpy as np

from hoijax.data.synthetic.grasp import synthesize_grasp
from hoijax.data.synthetic.objects import sample_params


def test_bottle_grasp_touches_without_penetrating(standin_right):
    params = sample_params("bottle", np.random.default_rng(0))
    grasp = synthesize_grasp(standin_right, "bottle", params, seed=0, steps=300)
    rot = grasp.hTo[:3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-6)
    assert grasp.penetration_mm < 2.0 and grasp.min_distance_mm < 1.0
    # Bottle grasps average 2.6 of 6 contacts (experiments/results/grasp.json): the palm
    # and the proximal phalanges hold it, fingertips often stop a few mm short.
    assert grasp.contacts >= 2
    again = synthesize_grasp(standin_right, "bottle", params, seed=0, steps=300)
    np.testing.assert_allclose(again.hTo, grasp.hTo, atol=1e-6)
    np.testing.assert_allclose(again.hand_pose, grasp.hand_pose, atol=1e-6)
