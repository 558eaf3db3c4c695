"""Differentiable renderers: soft mesh rasterizer (hand), SDF volume renderer (object),
depth compositing of the two, and the prior's geometry-image layouts."""
from hoijax.render.compose import compose_layers
from hoijax.render.geometry_images import (hand_geometry_image, object_geometry_image,
                                           reference_depth, split_hand_image,
                                           split_object_image, to_rgb)
from hoijax.render.rasterize import rasterize
from hoijax.render.volume import render_sdf
