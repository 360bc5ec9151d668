"""Clustering the training images on Inception features of image and mask (KMeans)."""
