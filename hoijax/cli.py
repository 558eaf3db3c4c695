"""The command-line layer every hoijax entry point shares (docs/design.md §3).

An entry point's `main` reads its flags, calls the library and prints; `run(main)` starts
it. What a user gets from every command:
- a bad input is one line on stderr, `error: ...`, exit status 2, before any work and
  without the usage text (`CliError`, and the checks below raise it);
- an unknown config field (`--config.num_step=3`) is one line naming the nearest fields;
  a config file that does not exist, one line naming it;
- the output folder is checked first (`output_folder`): refused when it is a file, lies
  under a file or cannot be written; created only once every input has been checked;
- counts are bounded (`count`), category words checked with the nearest names offered
  (`category`; no word stays the documented null prompt);
- `--config_help` (for a flag `--config`) lists the config's fields with their values and
  the comments the config file gives them, then exits;
- JAX's INFO line about a missing TPU runtime stays off the CPU path.
Imports nothing of hoijax, so `--help` stays fast.
"""
from __future__ import annotations

import difflib
import importlib.util
import logging
import os
import re
import sys

from absl import app, flags
from ml_collections import config_flags


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def output_folder(path: str | None, flag: str = "--out", create: bool = True) -> str:
    """Checks the output folder `path` (the value of `flag`) and creates it (unless not
    `create`: then only whether it could be) or raises CliError: missing, a file, under a
    file, or not writable."""
    if not path:
        raise CliError(f"{flag} is required (an output folder)")
    if os.path.exists(path) and not os.path.isdir(path):
        raise CliError(f"{flag}={path}: is a file, not a folder")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise CliError(f"{flag}={path}: cannot create the folder ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CliError(f"{flag}={path}: {existing} is not writable")
    if create:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise CliError(f"{flag}={path}: cannot create the folder ({e.strerror})") from None
    return path


def count(value: int, flag: str, limit: int, low: int = 1) -> int:
    """`value` when low <= value <= limit, else CliError naming `flag` and the range."""
    if not low <= value <= limit:
        raise CliError(f"{flag}={value}: must be between {low} and {limit}")
    return value


def category(word: str | None, known, flag: str = "--category") -> str | None:
    """The canonical name in `known` for a category word (any case; spaces, '_' or '-'
    between words), None for no word (the null prompt); CliError naming the nearest
    known names for any other word, including an empty one."""
    if word is None:
        return None
    key = lambda s: "".join(c for c in s.lower() if c.isalnum())  # noqa: E731
    by_key = {key(k): k for k in known}
    if key(word) in by_key:
        return by_key[key(word)]
    near = difflib.get_close_matches(key(word), list(by_key), n=3, cutoff=0.5)
    hint = (f"did you mean {', '.join(by_key[n] for n in near)}?" if near
            else f"known: {', '.join(known)}")
    raise CliError(f"{flag}={word!r}: unknown category; {hint} (leave {flag} out for no "
                   "category)")


def box(text: str | None, flag: str):
    """'x0,y0,x1,y1' -> a tuple of 4 floats (None stays None); CliError otherwise."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise CliError(f"{flag}={text}: four numbers x0,y0,x1,y1 (pixels) expected")
    return values


def define_video_flags() -> dict:
    """The video front end's flags, shared by `hoijax.preprocess` and `hoijax.reconstruct
    --video` (docs/video.md)."""
    return dict(
        object_box=flags.DEFINE_string(
            "object_box", None, "x0,y0,x1,y1: the object in the first frame (pixels)."),
        object_masks=flags.DEFINE_string(
            "object_masks", None, "Folder of object masks, one per input frame (sorted by "
            "name; > 127 = object), e.g. from SAM 2."),
        hand_box=flags.DEFINE_string(
            "hand_box", None, "x0,y0,x1,y1: the hand in the first frame (pixels); by "
            "default the hand is searched for."),
        hand=flags.DEFINE_enum("hand", "auto", ["auto", "right", "left"],
                               "Which hand holds the object (auto: the network's guess)."),
        num_frames=flags.DEFINE_integer("num_frames", 8, "Frames kept, spread over the "
                                        "video."),
        hands_only=flags.DEFINE_boolean("hands_only", False, "Stop after the hand "
                                        "(keypoints, MANO fit, hand masks)."),
        fov_deg=flags.DEFINE_float("fov_deg", 65.0, "The camera's field of view across the "
                                   "longer image side (degrees)."))


# ---------------------------------------------------------------------------------------
# Flags and config files.

def configs_dir() -> str:
    """hoijax's config files: the checkout's configs/ beside the package (a clone or an
    editable install), else the copy a built wheel ships in hoijax/configs."""
    package = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.join(os.path.dirname(package), "configs")
    if os.path.isfile(os.path.join(checkout, "reconstruct.py")):
        return checkout
    return os.path.join(package, "configs")


def resolve_config(spec: str) -> str:
    """'configs/x.py[:variant]' or 'x.py[:variant]': the file as given when it exists
    (relative to the working folder), else hoijax's own config of that name."""
    path, sep, variant = spec.partition(":")
    if os.path.isfile(path) or not path.endswith(".py"):
        return spec
    packaged = os.path.join(configs_dir(), os.path.basename(path))
    return packaged + sep + variant if os.path.isfile(packaged) else spec

def _config_flags() -> list:
    """The config-file flags (ml_collections) defined by the entry point."""
    return [name for name, flag in flags.FLAGS._flags().items()
            if type(flag).__name__ == "_ConfigFlag" and name == flag.name]


def _leaf_paths(config, prefix="") -> list:
    """'a.b.c' paths of every field of a ConfigDict."""
    out = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        out.append(path)
        if hasattr(value, "items"):
            out += _leaf_paths(value, path + ".")
    return out


def _load_config(spec: str):
    """The ConfigDict of 'path/to/file.py[:variant]' (its get_config(variant)), or None
    when the file does not exist or does not load."""
    path, _, variant = spec.partition(":")
    if not os.path.isfile(path):
        return None
    try:
        module_spec = importlib.util.spec_from_file_location("_hoijax_cli_config", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module.get_config(variant or None)
    except Exception:  # noqa: BLE001 - any failure of the user's file is reported as such
        return None


def _config_error(name: str, default: str, argv) -> str:
    """One line for a config flag that failed while ml_collections read it: the file does
    not load, or an override names no field (with the nearest fields)."""
    spec = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith(f"--{name}=")), default)
    config = _load_config(spec)
    if config is None:
        return (f"--{name}={spec}: no such config file, or it does not load (a path to a "
                "configs/*.py file, optionally :variant)")
    paths = _leaf_paths(config)
    for arg in argv[1:]:
        if arg.startswith(f"--{name}."):
            field = arg[len(name) + 3:].split("=", 1)[0]
            if field not in paths:
                near = difflib.get_close_matches(field, paths, n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                return f"--{name}.{field}: no such config field{hint}"
    return f"--{name}: the overrides do not apply to {spec}"


def define_config(name: str, default: str, help_text: str):
    """config_flags.DEFINE_config_file with hoijax's config `default` (a file name in
    `configs_dir()`), `--NAME=configs/x.py[:variant]` resolved by `resolve_config` (so
    the README's commands work from any folder and from a wheel install), and a failure
    (which ml_collections raises while defining the flag, reading sys.argv) turned into
    one line and exit status 2."""
    for i, arg in enumerate(sys.argv):
        if arg.startswith(f"--{name}="):
            sys.argv[i] = f"--{name}=" + resolve_config(arg.split("=", 1)[1])
    default = os.path.join(configs_dir(), default)
    flags.DEFINE_boolean(f"{name}_help", False, f"List the fields of --{name} (with the "
                         "overrides given) and what they mean, then exit.")
    try:
        return config_flags.DEFINE_config_file(name, default, help_text)
    except Exception:  # noqa: BLE001 - ml_collections raises many types for overrides
        _fail(_config_error(name, default, sys.argv))


def _parse_flags(argv):
    """absl's flag parsing with one-line errors (no traceback, no usage text); config
    files are loaded now, not mid-run."""
    helps = [n for n in _config_flags() if f"--{n}_help" in argv]
    error = None
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as e:
        if not helps:  # else a missing required flag must not hide the config's help
            _fail(str(e))
        error, rest = e, argv[:1]
        flags.FLAGS.mark_as_parsed()
    for name in _config_flags():
        try:  # a file that failed to load leaves a value that raises on first use
            _ = "-" in flags.FLAGS[name].value
        except Exception:  # noqa: BLE001
            _fail(str(error) if error else _config_error(
                name, getattr(flags.FLAGS[name], "config_filename", ""), argv))
        if flags.FLAGS[f"{name}_help"].value:
            print(config_help(flags.FLAGS[name].value, flags.FLAGS[name].config_filename))
            sys.exit(0)
    return rest


def config_help(config, spec: str) -> str:
    """Every field of a ConfigDict as `path = value  # comment`, the comment being the
    one on the line of the config file (`spec`: path[:variant]) that sets the field."""
    path = spec.partition(":")[0]
    source = open(path, encoding="utf-8").read() if os.path.isfile(path) else ""
    lines = [f"# {spec}"]
    for field in _leaf_paths(config):
        value = config
        for key in field.split("."):
            value = value[key]
        if hasattr(value, "items"):
            continue
        found = re.search(r"\." + re.escape(field) + r"\s*=[^\n#]*#\s*(.*)", source)
        comment = f"  # {found.group(1).strip()}" if found else ""
        lines.append(f"{field} = {value!r}{comment}")
    return "\n".join(lines)


def _fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def quiet_backend_probe() -> None:
    """Keeps JAX's INFO line about a missing TPU runtime off the console (jax logs it at
    INFO when it looks for backends; absl would print it)."""
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


def run(main) -> None:
    """app.run(main) with the behaviour of the module docstring."""
    quiet_backend_probe()

    def guarded(argv):
        try:
            return main(argv)
        except (CliError, app.UsageError) as e:
            _fail(str(e))

    app.run(guarded, flags_parser=_parse_flags)
