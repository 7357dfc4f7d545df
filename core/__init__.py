"""Shared foundations used by every layer: settings, errors, logging and storage connections.

`core` imports nothing else of the project, so channels, bot and services can all depend on it
without the arrows of docs/architecture.md pointing upwards.
"""

__version__ = "0.1.0"
