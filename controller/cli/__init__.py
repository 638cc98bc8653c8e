"""The ``modelsync`` command line."""
