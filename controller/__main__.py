"""``python -m controller`` runs the ``modelsync`` command."""

from controller.cli.main import main

raise SystemExit(main())
