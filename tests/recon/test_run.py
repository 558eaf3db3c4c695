"""Tests of the batch runner (hoijax.recon.run.reconstruct) without fitting: the fit and
the outputs are stood in for, to see which clips are fitted together."""
import json
import types

from hoijax.recon import run
from hoijax.runtime import repo_config


def test_finished_clips_are_kept_and_the_others_grouped_among_themselves(tmp_path,
                                                                         monkeypatch):
    clip = types.SimpleNamespace(num_frames=8)
    jobs = [run.Job(name, clip, str(tmp_path / name)) for name in ("a", "b", "c", "d")]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metrics.json").write_text(json.dumps({"F@5": 0.5, "seconds": 1.0}))
    fitted = []

    def fake_fit(clips, model, prior, config, *, categories, workdir, progress):
        fitted.append((len(clips), workdir))
        return [types.SimpleNamespace(seconds=2.0)] * len(clips)

    monkeypatch.setattr(run, "fit_clips", fake_fit)
    monkeypatch.setattr(run, "write_outputs", lambda out, fit, clip, model, render:
                        {"F@5": 0.1, "seconds": fit.seconds})
    model = types.SimpleNamespace(faces=None)
    results = run.reconstruct(jobs, model, None, repo_config("reconstruct.py", "tiny"),
                              workdir=str(tmp_path / "work"), group=2, skip_finished=True)
    assert list(results) == ["a", "b", "c", "d"] and results["b"]["F@5"] == 0.5
    # b is kept; a, c and d form groups of 2 among themselves: (a, c) and (d).
    assert [n for n, _ in fitted] == [2, 1]
    assert fitted[0][1].endswith("fit_a..c") and fitted[1][1].endswith("fit_d")
