"""Image encoders built with timm: the registry, weight loading and batched embedding."""
