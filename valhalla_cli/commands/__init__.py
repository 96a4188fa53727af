"""One Typer sub-app per pack.

Command modules do not use `from __future__ import annotations`: Typer reads every command's
signature when it builds the command tree (on `--help` and every Tab of completion), and string
annotations would make it `eval` each one again, about doubling the start-up cost.
"""
