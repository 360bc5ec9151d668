"""Presets, user settings, resource and config paths, device and thread choice, optional extras."""
