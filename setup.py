"""hoijax: hand-object interaction reconstruction from monocular clips, in JAX.

Install:  pip install -e .            (CPU)
          pip install -e ".[test]"    (plus the test tools)
          pip install -e ".[cuda]"    (NVIDIA GPUs, CUDA 12 wheels of jaxlib)
          pip install -e ".[tpu]"     (Cloud TPU VMs)
"""
import glob
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildWithConfigs(build_py):
    """Ships the checkout's configs/*.py inside the package (hoijax/configs), so that a
    wheel install finds `--config=configs/x.py:variant` from any folder (hoijax.cli)."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "hoijax", "configs")
        os.makedirs(target, exist_ok=True)
        for path in glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                           "configs", "*.py")):
            shutil.copy(path, target)


INSTALL_REQUIRES = [
    "jax>=0.4.35",
    "flax>=0.10",
    "optax>=0.2.3",
    "orbax-checkpoint>=0.6",
    "chex>=0.1.87",
    "ml-collections>=0.1.1",
    "absl-py>=2.0",
    "numpy>=1.26",
    "scipy>=1.11",  # MANO's sparse J_regressor, NNLS for the stand-in's regressor
    "scikit-image>=0.22",  # polygon fill of the preview renderer, marching cubes later
    "trimesh>=4.0",
    "mediapy>=1.2",
    "imageio-ffmpeg>=0.5",  # ffmpeg binary for mediapy, no system ffmpeg needed
    "Pillow>=10",
    "matplotlib>=3.7",  # labelled loss plots (already a dependency of mediapy)
    "tqdm>=4.66",
    "tensorboardX>=2.6",  # TensorBoard event files without TensorFlow or PyTorch
]

PHYSICS = ["mujoco>=3.1"]  # grasp simulation displacement (hoijax.eval.physics)
# The video front end: MediaPipe's hand networks run in LiteRT (their files are fetched
# from the package index on first use: hoijax.video.weights).
VIDEO = ["ai-edge-litert>=2.3"]
EXTRAS = {
    "test": ["pytest>=8", "pytest-xdist>=3.5",
             "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29",  # runs the notebooks
             *PHYSICS,  # so the simulation tests run instead of being skipped
             *VIDEO],  # and the video front end's
    "cuda": ["jax[cuda12]"],
    "tpu": ["jax[tpu]"],
    "physics": PHYSICS,
    "video": VIDEO,
}

setup(
    name="hoijax",
    version="0.1.0",
    description="Hand-object interaction reconstruction from monocular clips with a "
    "diffusion prior, in JAX (a functional reimplementation of DiffHOI).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["hoijax", "hoijax.*"]),
    # the shipped priors (hoijax-trained): geometry images, two hands
    package_data={"hoijax": ["assets/prior/*", "assets/two_hand_prior/*",
                              "assets/grid_prior/*", "assets/grid_prior/autoencoder/*"]},
    install_requires=INSTALL_REQUIRES,
    cmdclass={"build_py": BuildWithConfigs},
    extras_require=EXTRAS,
    license="Apache-2.0",
)
