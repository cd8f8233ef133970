"""`python -m bot` runs the `hotline` command line."""

from bot.cli import main

main()
