"""The diffusion engine: model (a diffusers UNet2DModel in the paper's guided-diffusion shape),
the Gaussian diffusion with learned-range variance, hybrid loss and timestep respacing, and
checkpoint I/O. Training, RePaint and style guidance build on these pieces."""
