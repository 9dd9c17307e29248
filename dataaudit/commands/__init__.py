"""One module per CLI command, each with ``register(subparsers)`` that sets ``func`` to its runner."""
