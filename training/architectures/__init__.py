"""Model architectures, looked up by name through `training.architectures.registry`."""
