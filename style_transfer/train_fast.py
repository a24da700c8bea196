"""`python -m style_transfer.train_fast`: the style-transfer-train command, style_transfer/cli/train_fast.py."""

from style_transfer.cli.train_fast import console_main

if __name__ == "__main__":
    console_main()
