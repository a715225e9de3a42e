"""``python -m reconciler`` runs the CLI."""

from reconciler.cli.start import main

raise SystemExit(main())
