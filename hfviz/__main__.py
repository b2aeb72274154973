"""``python -m hfviz`` entry point."""

from hfviz.cli import main

raise SystemExit(main())
