"""Dataset input: robust image reading, import of real datasets, the procedural demo set."""
