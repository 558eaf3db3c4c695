"""G-HOP's hand-centric interaction grid (docs/design.md §11): the normalised hand frame,
the object's SDF on the grid, the hand's skeletal distance field, and fitting MANO to a
field. Pure jnp throughout (jit, vmap, grad)."""
from hoijax.interaction.fit import fit_hand_to_field  # noqa: F401
from hoijax.interaction.frame import (HAND_SCALE, grid_points, hand_center,  # noqa: F401
                                      nTh, to_normalised, voxel_size_m)
from hoijax.interaction.hand_field import (FIELD_CLAMP, hand_field,  # noqa: F401
                                           hand_frame_center, joints_from_field, no_hand,
                                           skeletal_field)
from hoijax.interaction.object_grid import (SDF_TRUNCATION, mesh_sdf,  # noqa: F401
                                            network_sdf, normalise_sdf, object_grid)
