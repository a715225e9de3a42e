"""``python -m reconciler`` runs the CLI."""

from reconciler.cli.app import main

raise SystemExit(main())
