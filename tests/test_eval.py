"""Tests for the evaluation metrics against hand-computed cases."""
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from hoijax.eval.metrics import (chamfer_mm, evaluate_reconstruction, fscore, icp_with_scale,
                                 object_metrics, sample_surface, umeyama)


def _grid(spacing=0.01, n=10):
    x, y = np.meshgrid(np.arange(n) * spacing, np.arange(n) * spacing)
    return np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], -1)


def test_identical_points_give_zero_chamfer_and_unit_fscore():
    pts = _grid()
    assert chamfer_mm(pts, pts) == 0.0
    assert fscore(pts, pts, 5.0) == 1.0


def test_known_offset_gives_known_chamfer_and_fscore():
    pts = _grid(spacing=0.01)  # 10 mm apart: each point's nearest is its own copy
    shifted = pts + np.array([0.0, 0.0, 0.002])
    np.testing.assert_allclose(chamfer_mm(shifted, pts), 2.0, atol=1e-9)
    assert fscore(shifted, pts, 5.0) == 1.0 and fscore(shifted, pts, 1.0) == 0.0
    # One-sided: extra far points lower precision only.
    extra = np.concatenate([pts, pts[:25] + np.array([0, 0, 0.05])])
    p = 100 / 125
    np.testing.assert_allclose(fscore(extra, pts, 5.0), 2 * p / (p + 1))


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 3))
    rot = Rotation.random(random_state=1).as_matrix()
    s, r, t = umeyama(src, 1.7 * src @ rot.T + np.array([0.1, -0.2, 0.3]))
    np.testing.assert_allclose([s], [1.7], atol=1e-9)
    np.testing.assert_allclose(r, rot, atol=1e-9)


def test_scaled_rotated_copy_aligns_back():
    mesh = trimesh.creation.box(extents=(0.12, 0.06, 0.03))  # no rotational symmetry left
    knob = trimesh.creation.icosphere(radius=0.02).apply_translation((0.06, 0.03, 0.0))
    mesh = trimesh.util.concatenate([mesh, knob])
    gt = sample_surface(mesh, 4000, seed=0)
    rot = Rotation.from_euler("xyz", (40, -70, 120), degrees=True).as_matrix()
    pred = 1.3 * gt @ rot.T + np.array([0.2, 0.1, -0.05])
    aligned, transform, err = icp_with_scale(pred, gt)
    assert err < 1e-6
    np.testing.assert_allclose(aligned, gt, atol=1e-5)
    metrics = object_metrics(pred, gt)
    assert metrics["F@5"] == 1.0 and metrics["CD"] < 1e-3


def test_evaluate_reconstruction_cd_h_sees_the_arrangement():
    mesh = trimesh.creation.icosphere(radius=0.04)
    hTo = np.eye(4)
    moved = hTo.copy()
    moved[:3, 3] = (0.01, 0, 0)  # the same shape, 1 cm off in the hand frame
    out = evaluate_reconstruction(mesh, mesh, moved, hTo, num_points=3000)
    assert out["F@5"] > 0.9 and out["CD"] < 2.0  # the shape matches after alignment
    # ... the arrangement does not: a 10 mm shift of a sphere puts its surface on average
    # |10 mm * cos| = 5 mm from the original.
    assert 4.0 < out["CD_h"] < 7.0
