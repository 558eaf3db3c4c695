"""Per-clip reconstruction (docs/design.md section 6). Read top-down:

  objective.py  what is minimised (the assembly; each formula in losses.py)
  init.py       where it starts (data.py: the clip at the fitting resolution;
                trajectory.py: the repaired and smoothed hand track)
  fit.py        the loop (checkpoints.py: resuming)
  outputs.py    meshes, video, parameters, metrics
and around them: scene.py (the parameters), checks.py (the config, checked first),
sources.py (--clip arguments), run.py (clips in, outputs out: one orchestration).
"""
