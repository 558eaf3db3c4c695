"""G-HOP's hand-centric interaction grid (docs/design.md §11): the normalised hand frame
(`frame`), the object's SDF on the grid (`object_grid`), the hand's skeletal distance
field (`hand_field`), and fitting MANO to a field (`fit`). Pure jnp throughout (jit, vmap,
grad). The submodules are the API (`hoijax.interaction.object_grid.object_grid(...)`,
`hoijax.interaction.hand_field.hand_field(...)`); the names below are shortcuts."""
from hoijax.interaction import fit, frame, hand_field, object_grid  # noqa: F401
from hoijax.interaction.fit import fit_hand_to_field  # noqa: F401
from hoijax.interaction.frame import HAND_SCALE, grid_points, nTh, voxel_size_m  # noqa: F401
from hoijax.interaction.hand_field import (FIELD_CLAMP, joints_from_field,  # noqa: F401
                                           skeletal_field)
from hoijax.interaction.object_grid import SDF_TRUNCATION, mesh_sdf, network_sdf  # noqa: F401
