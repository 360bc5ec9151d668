"""An image's role in the evaluation protocol: test images are held out of every generation
stage and are what segmentation is tested on (see :mod:`backend.workspace.selection`);
background images are frames without polyps (no mask), inputs of mask-guided synthesis only.
A module of its own so that the CLI's parser can name them without loading the store."""

TRAIN, TEST, BACKGROUND = "train", "test", "background"
ROLES = (TRAIN, TEST, BACKGROUND)
ASSIGNABLE_ROLES = (TRAIN, TEST)  # set-role's: a background image has no mask to train or test on
