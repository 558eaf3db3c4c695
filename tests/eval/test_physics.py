"""Physical grasp metrics (hoijax.eval.physics) against hand-computed cases."""
import jax.numpy as jnp
import numpy as np
import pytest

from hoijax.eval import physics as P
from hoijax.geometry import sdf as S
from hoijax.hand.model import mano_forward
from hoijax.hand.proxy import interior_points, posed_interior


def half_space_box(top=0.0):
    """A 1 m box whose top face is the plane z = top (the other faces far away)."""
    return lambda x: S.box(x - jnp.array([0.0, 0.0, top - 0.5]), jnp.array([0.5, 0.5, 0.5]))


@pytest.fixture(scope="module")
def flat_hand(standin_right):
    out = mano_forward(standin_right, jnp.zeros(45), jnp.zeros(10))
    return np.asarray(out.vertices), np.asarray(standin_right.faces)


def test_penetration_depth_of_a_hand_pushed_into_a_box(standin_right, flat_hand):
    verts, faces = flat_hand
    interior = posed_interior(interior_points(standin_right, 512), jnp.asarray(verts))
    for depth in (0.0, 0.004, 0.012):
        shift = np.array([0.0, 0.0, -depth - verts[:, 2].min()])  # lowest vertex at -depth
        out = P.penetration(half_space_box(), jnp.asarray(verts + shift), jnp.asarray(faces),
                            interior + shift)
        np.testing.assert_allclose(float(out["depth"]), depth, atol=1e-5)
        assert (float(out["volume"]) > 0) == (depth > 0.005)  # thin slivers hold no points
    # Fully outside: nothing.
    out = P.penetration(half_space_box(-0.1), jnp.asarray(verts), jnp.asarray(faces), interior)
    assert float(out["depth"]) == 0.0 and float(out["volume"]) == 0.0


def test_penetration_volume_of_a_sphere_cap():
    """A ball (radius r) sunk h into a half-space: cap volume pi h^2 (3r - h) / 3."""
    import trimesh
    r, h = 0.04, 0.015
    ball = trimesh.creation.icosphere(subdivisions=4, radius=r)
    rng = np.random.default_rng(0)
    p = rng.uniform(-r, r, (60000, 3))
    interior = p[np.linalg.norm(p, axis=1) < r][:20000]
    shift = np.array([0.0, 0.0, r - h])  # the ball's bottom at z = -h
    out = P.penetration(half_space_box(), jnp.asarray(ball.vertices + shift),
                        jnp.asarray(ball.faces), jnp.asarray(interior + shift))
    expected = np.pi * h ** 2 * (3 * r - h) / 3
    np.testing.assert_allclose(float(out["volume"]), expected, rtol=0.05)
    np.testing.assert_allclose(float(out["depth"]), h, atol=2e-4)


def test_contacts_find_the_touched_fingers(standin_right, flat_hand):
    """Small spheres 1 mm from the thumb and index fingertips: exactly those two touch;
    moved 3 mm away, none does."""
    from hoijax.grasp.synthesis import hand_contact_parts
    verts, _ = flat_hand
    parts = [np.asarray(p) for p in hand_contact_parts(standin_right)]
    tips = [standin_right.fingertip_ids[0], standin_right.fingertip_ids[1]]  # thumb, index
    centre = verts.mean(0)

    def spheres(gap):
        cs = []
        for t in tips:
            out = verts[t] - centre
            out = out / np.linalg.norm(out)
            cs.append(verts[t] + (0.005 + gap) * out)
        cs = jnp.asarray(np.stack(cs))
        return lambda x: jnp.min(jnp.linalg.norm(x[..., None, :] - cs, axis=-1) - 0.005, -1)

    got = np.asarray(P.contacts(spheres(0.001), jnp.asarray(verts), parts))
    assert got.tolist() == [True, True, False, False, False, False]
    got = np.asarray(P.contacts(spheres(0.003), jnp.asarray(verts), parts))
    assert not got.any()


mujoco_missing = not P.have_mujoco()


@pytest.mark.skipif(mujoco_missing, reason=f"MuJoCo not installed: {P.INSTALL_HINT}")
def test_simulation_resting_and_falling():
    import trimesh
    box = trimesh.creation.box((0.05, 0.05, 0.05))
    inside = np.random.default_rng(0).uniform(-0.024, 0.024, (2000, 3))
    pieces = P.object_pieces(box.vertices, inside, 8)
    slab = trimesh.creation.box((0.3, 0.3, 0.02))
    slab.apply_translation((0.0, 0.0, -0.035))  # top face at the box's bottom (z = -2.5 cm)
    rest = P.simulate([slab.vertices], pieces)
    assert rest["displacement"] < 0.002  # resting on a fixed support: stays
    lifted = P.simulate([slab.vertices - np.array([0.0, 0.0, 0.01])], pieces)
    np.testing.assert_allclose(lifted["final_position"][2], -0.01, atol=0.002)  # 1 cm drop
    free = P.simulate([slab.vertices + np.array([1.0, 0.0, 0.0])], pieces)
    np.testing.assert_allclose(free["displacement"], 0.5 * 9.81, rtol=0.01)  # free fall, 1 s
    # Gravity along +x: slides off sideways, same free fall.
    side = P.simulate([slab.vertices], pieces, gravity=(9.81, 0.0, 0.0))
    assert side["displacement"] > 4.0


@pytest.mark.skipif(mujoco_missing, reason=f"MuJoCo not installed: {P.INSTALL_HINT}")
def test_simulation_displacement_of_a_box_pinched_by_two_plates(standin_right):
    """An object squeezed between two fixed plates (1 mm interpenetration, friction 1)
    stays; the same without plates falls."""
    import trimesh
    box = trimesh.creation.box((0.04, 0.04, 0.04))
    inside = np.random.default_rng(1).uniform(-0.019, 0.019, (2000, 3))
    plate = trimesh.creation.box((0.01, 0.08, 0.08))
    left = plate.vertices + np.array([-0.024, 0.0, 0.0])
    right = plate.vertices + np.array([0.024, 0.0, 0.0])
    pieces = P.object_pieces(box.vertices, inside, 4)
    held = P.simulate([left, right], pieces)
    assert held["displacement"] < 0.01
    dropped = P.simulate([left + [0.0, 0.0, 1.0], right + [0.0, 0.0, 1.0]], pieces)
    assert dropped["displacement"] > 4.0


def test_missing_mujoco_message(monkeypatch):
    monkeypatch.setattr(P, "have_mujoco", lambda: False)
    with pytest.raises(ImportError, match=r"\.\[physics\]"):
        P.require_mujoco()
