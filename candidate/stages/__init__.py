"""One module per stage; each exposes ``run(inputs, context, config) -> dict`` of artifacts."""
