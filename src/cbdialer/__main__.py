"""`python -m cbdialer` is the `cbdialer` command line."""

from cbdialer.cli import main

raise SystemExit(main())
