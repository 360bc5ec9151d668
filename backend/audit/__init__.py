"""The memorisation audit: is a synthetic sample a copy of a training image?

``distances`` (batched nearest training images, calibrated), ``embedding`` (the same on FID
Inception features), ``store`` (rows keyed by the training set's fingerprint), ``run`` (the
audit and the ``memorised`` gate), ``report`` (its report section).
"""
