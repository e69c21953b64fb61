"""`python -m service.cli`: the same as the `triage` command."""

from service.cli import main

main()
