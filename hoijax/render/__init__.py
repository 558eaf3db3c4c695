"""Differentiable renderers, one module each (import the functions from them):

  hoijax.render.rasterize.rasterize          soft mesh rasterizer (the hand)
  hoijax.render.volume.render_sdf            SDF volume renderer (the object)
  hoijax.render.compose.compose_layers       depth-ordered blend of the two layers
  hoijax.render.geometry_images              the prior's channel layouts and normalisations
  hoijax.render.reference                    brute-force numpy references (tests, benchmarks)

Nothing is re-exported here, so that `hoijax.render.rasterize` stays the module.
"""
