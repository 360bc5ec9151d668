"""A micro model/diffusion configuration for fast CPU tests of the diffusion engine
(16 px, two levels, attention at 8 px): seconds per run, same code paths as the presets."""

MICRO_OVERRIDES = [
    "model.image_size=16",
    "model.num_channels=32",
    "model.channel_mult=[1,2]",
    "model.attention_resolutions=[8]",
    "model.num_head_channels=32",
    "model.num_res_blocks=1",
    "diffusion.timestep_respacing=4",
    "train.batch_size=2",
    "train.sample_count=2",
    "train.save_interval=2",
    "train.lr=1e-3",
]
