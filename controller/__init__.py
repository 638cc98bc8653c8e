"""modelsync: GitOps for LLM workloads on Kubernetes GPU clusters.

Layers, lowest first (an import-linter contract in pyproject.toml keeps them apart):

- ``controller.core``: pure values and decisions (documents, specs, validation, presets,
  sizing, desired releases, planning). No network, no cluster, no clock.
- ``controller.adapters``: thin I/O (files, Git, Helm, Kubernetes, hydrate output).
- ``controller.engine``: one reconcile pass and the long-running loop built from the two.
- ``controller.cli``: the ``modelsync`` command.
"""

__version__ = "0.1.0"
