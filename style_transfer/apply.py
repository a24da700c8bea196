"""`python -m style_transfer.apply`: the style-transfer-apply command, style_transfer/cli/apply.py."""

from style_transfer.cli.apply import console_main

if __name__ == "__main__":
    console_main()
