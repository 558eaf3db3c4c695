"""Per-clip reconstruction: scene parameters, losses, initialisation, the fitting loop."""
