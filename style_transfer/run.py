"""`python -m style_transfer.run`: the style-transfer command, style_transfer/cli/run.py."""

from style_transfer.cli.run import console_main

if __name__ == "__main__":
    console_main()
