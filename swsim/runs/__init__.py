"""Many restores, or none: comparing strategies on one image, and summarising an image."""
