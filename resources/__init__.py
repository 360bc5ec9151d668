"""Package data: icons, style sheet, presets, demo-data recipe. Located with :func:`backend.config.paths.resource`."""
