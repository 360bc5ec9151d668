"""The names of the style guidance's loss terms (Table A.3) and of the colour matchings after
it (:mod:`backend.style.colour`), light enough for the CLI's parser."""

LAMBDAS = ("zecon", "vgg", "mse", "sty", "l2", "sem", "rng")
METHODS = ("none", "mkl", "histogram")
RANGES = ("clip", "stretch")  # how the mkl result returns to 0..255 (colour.py)
