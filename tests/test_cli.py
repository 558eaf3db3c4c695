"""The shared CLI layer (hoijax.cli) through the entry points: one line on a bad input,
before any work, without the usage text or JAX's TPU-probe INFO line."""
import os
import subprocess
import sys

import pytest

from hoijax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(module, *args, cwd=ROOT):
    env = dict(os.environ)
    env.pop("JAX_PLATFORMS", None)  # as a user runs it: the backend probe may speak
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def one_error_line(result, *fragments):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Unable to initialize backend" not in result.stderr + result.stdout


def test_output_folder_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run("hoijax.generate", f"--out={tmp_path / 'file'}", "--num=1")
    one_error_line(result, "--out=", "is a file")
    result = run("hoijax.two_hands", f"--out={tmp_path / 'file' / 'sub'}", "--num=1")
    one_error_line(result, "cannot create the folder")


def test_counts_are_bounded(tmp_path):
    result = run("hoijax.two_hands", "--num=1000000000", f"--out={tmp_path / 'o'}")
    one_error_line(result, "--num=1000000000", "between 1 and")
    assert not (tmp_path / "o").exists()


def test_unknown_category_names_the_nearest(tmp_path):
    result = run("hoijax.generate", "--category=mugg", "--num=1", f"--out={tmp_path / 'o'}")
    one_error_line(result, "'mugg'", "did you mean mug")
    result = run("hoijax.generate", "--category=", "--num=1", f"--out={tmp_path / 'o'}")
    one_error_line(result, "unknown category")
    assert not (tmp_path / "o").exists()


def test_config_errors_are_one_line(tmp_path):
    result = run("hoijax.grasp", "--config.seeds_per_grsp=3", "--object=x.obj",
                 f"--out={tmp_path / 'o'}")
    one_error_line(result, "--config.seeds_per_grsp", "did you mean seeds_per_grasp")
    result = run("hoijax.grasp", "--config=configs/nope.py", "--object=x.obj",
                 f"--out={tmp_path / 'o'}")
    one_error_line(result, "configs/nope.py", "no such config file")


def test_category_matches_any_spelling():
    known = ["mug", "toy car", "spray bottle"]
    assert cli.category("Toy_Car", known) == "toy car"
    assert cli.category(None, known) is None
    with pytest.raises(cli.CliError, match="did you mean spray bottle"):
        cli.category("spraybotle", known)


def test_config_help_lists_fields_with_their_comments():
    """`--config_help` answers without the required flags, shows overrides applied and the
    file's comment on each field; it exits 0 before any work."""
    result = run("hoijax.reconstruct", "--config=configs/reconstruct.py:tiny",
                 "--config.num_steps=7", "--config_help")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "# configs/reconstruct.py:tiny"
    steps = [line for line in lines if line.startswith("num_steps = ")]
    assert steps == ["num_steps = 7  # optimiser steps (0: write the initialisation)"]
    assert "render.image_size = 32" in result.stdout  # the variant's value, nested
    result = run("hoijax.reconstruct", "--config_help", "--config.num_stepz=7")
    one_error_line(result, "--config.num_stepz", "did you mean num_steps")
