"""An image's role in the evaluation protocol: test images are held out of every generation
stage and are what segmentation is tested on (see :mod:`backend.workspace.selection`).
A module of its own so that the CLI's parser can name them without loading the store."""

TRAIN, TEST = "train", "test"
ROLES = (TRAIN, TEST)
