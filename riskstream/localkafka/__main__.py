"""``python -m riskstream.localkafka up|down|status|logs``."""

from .cli import kafka

if __name__ == "__main__":
    kafka(prog_name="python -m riskstream.localkafka")
