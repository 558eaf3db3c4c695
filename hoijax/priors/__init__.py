"""The prior harness (docs/design.md §7, §11, §12): one training loop (`loop`), one prior
folder format (`folder`), and per prior a loader that imports no training code
(`image`, `grid`; the two-hand prior's in `hoijax.twohand.prior`) beside a training spec
(`image_train`, `grid_autoencoder_train`, `grid_train`; `hoijax.twohand.train`) that
supplies init, loss, data, evaluation and export. `tasks` maps a config's `task` to its
spec for `python -m hoijax.train_prior`."""
