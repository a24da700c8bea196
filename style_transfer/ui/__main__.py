"""`python -m style_transfer.ui`: the style-transfer-ui command, style_transfer/cli/ui.py."""

from style_transfer.cli.ui import console_main

console_main()
