"""hoijax.models.build: a module's initial parameters from one compiled program."""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from hoijax.models.build import init_module, module_graphdef


class _Small(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(2, 4, (3, 3), rngs=rngs)
        self.norm = nnx.LayerNorm(4, rngs=rngs)
        self.embed = nnx.Embed(5, 4, rngs=rngs)
        self.out = nnx.Linear(4, 3, rngs=rngs)

    def __call__(self, x, token):
        h = self.norm(self.conv(x)) + self.embed(token)[:, None, None]
        return self.out(jax.nn.silu(h))


def test_init_module_equals_eager_construction():
    key = jax.random.key(7)
    graphdef, params = init_module(_Small, key)
    eager = _Small(nnx.Rngs(params=key))
    expected = nnx.to_pure_dict(nnx.state(eager))
    assert jax.tree.structure(params) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(expected)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    assert float(jnp.abs(params["conv"]["kernel"]).max()) > 0  # drawn, not zeros
    x, token = jnp.ones((2, 6, 6, 2)), jnp.array([1, 4])
    np.testing.assert_allclose(nnx.merge(graphdef, params)(x, token), eager(x, token),
                               atol=1e-5)
    assert module_graphdef(_Small) == graphdef
