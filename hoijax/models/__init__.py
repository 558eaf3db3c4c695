"""The networks: the object SDF, the prompt encoder, the 2D and 3D denoisers, the grid
autoencoder (docs/design.md section 3). Import the modules themselves."""
