"""Dataset loaders. Every loader returns a `Dataset` of uint8 images plus a `LoadReport`."""
