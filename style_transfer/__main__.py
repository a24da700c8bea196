"""`python -m style_transfer` is the same command as `python -m style_transfer.run`."""

from style_transfer.cli.run import console_main

console_main()
