"""Mask-guided synthesis: new polyps where a wanted mask says, on training or background images,
with the joint image + mask model and no retraining (issue 34)."""
