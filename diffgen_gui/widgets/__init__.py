"""Reusable widgets: the image canvas shared by the mask editor and the review view."""
