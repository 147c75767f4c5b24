"""``python -m riskstream.cli``: the ``riskstream`` command."""

from . import main

main(prog_name="riskstream")
