"""Differentiable renderers: soft mesh rasterizer, SDF volume renderer, depth compositing."""
