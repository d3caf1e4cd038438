"""videoapi: a self-hosted HTTP API that generates and edits video."""

__version__ = "0.1.0"
