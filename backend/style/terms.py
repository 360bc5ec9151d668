"""The names of the style guidance's loss terms (Table A.3), light enough for the CLI's parser."""

LAMBDAS = ("zecon", "vgg", "mse", "sty", "l2", "sem", "rng")
