"""The domain query: what the configs declare and the registry recorded, for the REST API and the CLI."""
