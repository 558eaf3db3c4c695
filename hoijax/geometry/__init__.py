"""Geometry: rotations, rigid transforms, pinhole cameras and rays (jax.numpy; numpy where
noted: look_at, orbit_camera, and apply_to_points / apply_to_directions on numpy input)."""
from hoijax.geometry.camera import (intrinsics, look_at, novel_view_camera, orbit_camera,
                                    pixel_grid, pixel_rays, project, rays_to_frame,
                                    rescale_intrinsics, unproject)
from hoijax.geometry.math import (clamp_away_from_zero, matmul, safe_norm, safe_normalize,
                                  safe_sqrt, transpose)
from hoijax.geometry.rotations import (axis_angle_to_matrix, axis_angle_to_quaternion,
                                       matrix_to_axis_angle, matrix_to_quaternion,
                                       matrix_to_rot6d, quaternion_canonical,
                                       quaternion_conjugate, quaternion_multiply,
                                       quaternion_to_axis_angle, quaternion_to_matrix,
                                       random_rotation, rot6d_to_matrix, skew)
from hoijax.geometry.transforms import (apply_to_directions, apply_to_points, compose,
                                        invert_rigid, is_rigid, make_transform,
                                        split_transform)
