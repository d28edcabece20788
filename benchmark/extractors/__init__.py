"""Feature extractors: uint8 images in, pool / spatial / logits features out."""
