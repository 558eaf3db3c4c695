"""Every notebook in experiments/notebooks runs top to bottom (nbclient), with its one
`parameters` cell followed by shrunk settings (tiny configs, a few steps, small clips), in
a kernel of this interpreter; an error, or a code cell without output, fails.

The shrunk settings are appended to the notebook's own parameters cell, so a parameter
the notebook adds later keeps its default; each shrunk name must already be a parameter
of the notebook (a renamed parameter fails here instead of going unnoticed).

Time in the whole suite from an empty compilation cache (two workers, the idle 2-core
CPU, the tests' XLA flags of conftest.py): train_prior_tpu.ipynb 129 s,
reconstruct.ipynb 68 s, grasp.ipynb 40 s, two_hands.ipynb 18 s
(experiments/results/history/2026-12-07_13503b2_suite_time.md).
"""
import ast
import glob
import os
import shutil
import sys
import time

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "experiments", "notebooks")
PATHS = sorted(glob.glob(os.path.join(NOTEBOOKS, "*.ipynb")))


def shrunk_parameters(name: str, user_clip: str) -> str:
    """The CI settings of each notebook. user_clip: a small clip folder without ground
    truth (3 frames, 48 px), standing in for a user's clip (and skipping the metrics'
    ICP, which costs tens of seconds a clip)."""
    if name == "reconstruct":
        return f"""
SYNTHETIC_CLIPS = ["bottle:5"]
NUM_FRAMES = 3
USER_CLIPS = {user_clip!r}
CONFIG = "tiny"
NUM_STEPS = 2
CONFIG_OVERRIDES = {{"sds.warmup": 0, "sds.every": 1}}  # the SDS branch runs in CI
OUT = "out"
CPU_DEVICES = 2
"""
    if name == "train_prior_tpu":
        return f"""
PRIOR_CONFIG = "tiny"
WORKDIR = "run"
DATA_VARIANT = "tiny16"
DATA_OVERRIDES = {{"categories": ["bottle"], "objects_per_category": 2, "views_per_grasp": 8}}
NUM_STEPS = 4
BATCH_SIZE = 8
EVAL_EVERY = 4
GRID_CONFIG = "tiny"
GRID_STEPS = 2
GRID_BATCH_SIZE = 4
GRID_DATA_VARIANT = "placements"
GRID_DATA_OVERRIDES = {{"categories": ["bottle"], "objects_per_category": 3,
                       "jitters_per_grasp": 2, "resolution": 16, "field_resolution": 4}}
GRID_AUTOENCODER = "train"
GRID_SAMPLE_FLAGS = ["--num=1", "--ddim_steps=2", "--fit_steps=2"]
RECON_CLIPS = [{user_clip!r}]
RECON_CONFIG = "tiny"
RECON_STEPS = 2
RECON_OVERRIDES = {{"sds.warmup": 0, "sds.every": 1}}  # the SDS branch runs in CI
CPU_DEVICES = 2
"""
    if name == "grasp":
        return """
SYNTHETIC_OBJECT = "box:500"
NUM_GRASPS = 1
GRASP_CONFIG = "tiny"
NUM_SAMPLES = 1
GENERATE_FLAGS = ["--ddim_steps=2", "--fit_steps=2"]
OUT = "out"
"""
    if name == "two_hands":
        return """
NUM = 4
SHOW = 2
OUT = "out"
"""
    raise AssertionError(f"{name}.ipynb: no shrunk parameters in tests/test_notebooks.py; "
                         "add them to shrunk_parameters")


# Outputs each notebook must show (HTML of mediapy's images and videos, trimesh's viewer,
# the metrics table), as (substring, least count) over all outputs' text.
EXPECTED = {
    "reconstruct": [("<video", 2), ("<img", 2), ("srcdoc=", 1), ("| bottle_5 | 0.", 1),
                    ("| my_clip | no ground truth", 1), ("2 clips on 2 devices", 1)],
    "grasp": [("<img", 2), ("srcdoc=", 1), ("| 0 | ", 1), ("hand_pose (1, 45)", 1),
              ("of 1 samples with an object surface", 1)],
    "two_hands": [("<img", 2), ("srcdoc=", 1), ("| anti-penetration on | ", 1),
                  ("| anti-penetration off | ", 1), ("wrote out/samples.npz", 1)],
    "train_prior_tpu": [("<img", 4), ("<video", 1), ("mesh {'data': 2}", 1),
                        ("images/s on 2 cpu devices", 1), ("exported run/prior", 1),
                        ("grid prior: 2 steps", 1), ("grids/s on 2 cpu devices", 1),
                        ("sampled 1 grids", 1)],
}


class _ThisPython(KernelSpecManager):
    """Every kernel name resolves to ipykernel on this interpreter (sys.executable), not
    to whatever `python3` kernel the Jupyter paths list first."""

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                "{connection_file}"], display_name="hoijax tests",
                          language="python")


def _assigned_names(source: str) -> set:
    return {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    if output.output_type in ("display_data", "execute_result"):
        return "\n".join(v if isinstance(v, str) else "" for v in output.data.values())
    return ""


def test_notebooks_are_found():
    names = [os.path.basename(p) for p in PATHS]
    assert "reconstruct.ipynb" in names and "train_prior_tpu.ipynb" in names, names


@pytest.fixture(scope="module")
def user_clip(tiny_clip, tmp_path_factory):
    """tiny_clip without its ground truth, as a user's own clip would come."""
    folder = tmp_path_factory.mktemp("user") / "my_clip"
    shutil.copytree(tiny_clip.path, folder, ignore=shutil.ignore_patterns("gt.npz", "oObj.obj"))
    return str(folder)


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[os.path.basename(p) for p in PATHS])
def test_notebook_runs_top_to_bottom(path, user_clip, tmp_path):
    name = os.path.splitext(os.path.basename(path))[0]
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}.ipynb: {len(tagged)} cells tagged `parameters`"
    assert nb.cells[0].cell_type == "markdown" and \
        f"colab.research.google.com/github/hoijax/hoijax/blob/main/experiments/notebooks/" \
        f"{name}.ipynb" in nb.cells[0].source, f"{name}.ipynb: no Open in Colab badge first"
    params = tagged[0]
    shrunk = shrunk_parameters(name, user_clip)
    unknown = _assigned_names(shrunk) - _assigned_names(params.source)
    assert not unknown, f"{name}.ipynb has no parameters {sorted(unknown)}"
    params.source += "\n# CI: shrunk to seconds (tests/test_notebooks.py)" + shrunk
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))

    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())
    client = NotebookClient(nb, km=km, timeout=600, resources={"metadata": {
        "path": str(tmp_path)}})
    start = time.time()
    try:
        client.execute()
    finally:  # the executed copy, for a look at what failed
        nbformat.write(nb, str(tmp_path / f"{name}.executed.ipynb"))
    print(f"{name}.ipynb: {time.time() - start:.0f} s")

    assert nb.cells[-1].outputs[0].text.strip() == sys.executable
    texts = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{name}.ipynb cell {i}: {errors[0].ename}: {errors[0].evalue}"
        if cell is not params:
            assert cell.outputs, f"{name}.ipynb cell {i} shows nothing:\n{cell.source}"
        texts += [_text(o) for o in cell.outputs]
    text = "\n".join(texts)
    for snippet, least in EXPECTED[name]:
        assert text.count(snippet) >= least, \
            f"{name}.ipynb: {snippet!r} shown {text.count(snippet)} times, expected " \
            f">= {least}"
