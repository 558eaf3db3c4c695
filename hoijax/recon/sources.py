"""Where the clips to reconstruct come from: folders, globs, or `synthetic:CATEGORY[:SEED]`
(a category, or a held-out shape of `hoijax.data.synthetic.held_out`)."""
from __future__ import annotations

import glob
import os

from hoijax.data.clip import save_clip
from hoijax.data.synthetic.clips import ClipSpec, generate_clip
from hoijax.data.synthetic.objects import canonical_category, clip_name, shape_names


def resolve_clips(specs) -> list:
    """[(name, folder or ("synthetic", category, seed))]; raises ValueError on bad specs."""
    jobs = []
    for spec in specs:
        if spec.startswith("synthetic:"):
            parts = spec.split(":")
            try:
                category = canonical_category(parts[1], shape_names())
            except ValueError as e:
                raise ValueError(f"--clip={spec}: {e}") from None
            try:
                seed = int(parts[2]) if len(parts) > 2 else 0
            except ValueError:
                raise ValueError(f"--clip={spec}: the seed must be an integer") from None
            jobs.append((clip_name(category, seed), ("synthetic", category, seed)))
            continue
        folders = sorted(glob.glob(spec)) if any(c in spec for c in "*?[") else [spec]
        if not folders:
            raise ValueError(f"--clip={spec}: no folder matches")
        jobs += [(os.path.basename(os.path.normpath(f)), f) for f in folders]
    return jobs


def synthetic_clip_folder(model, folder, category, seed, num_frames=8) -> str:
    """Generates the synthetic clip (category, seed) into `folder` unless it is already
    there (`save_clip` writes through a temporary folder: a killed run leaves nothing
    half-written). Returns the folder."""
    if not os.path.isdir(folder):
        print(f"generating synthetic clip {category} seed {seed} -> {folder}")
        clip = generate_clip(model, ClipSpec(category=category, seed=seed,
                                             num_frames=num_frames))
        clip.pop("stats")
        save_clip(folder, **clip)
    return folder
