"""`riskstream bench console` on a small simulated day: its figures add up."""

import orjson
from click.testing import CliRunner

from riskstream.cli import main


def test_bench_console_ingests_every_review_record_once():
    done = CliRunner().invoke(main, ["bench", "console", "--orders", "2000", "--seed", "3", "--batch", "700"])
    assert done.exit_code == 0, done.output
    result = orjson.loads(done.stdout)
    first, again = result["runs"]
    assert result["review_records"] > 0 and result["cases"] > 0
    assert first["revisions_stored"] == result["revisions"] == result["review_records"]
    assert first["duplicates"] == result["review_records"]  # each review record also came on risk-decisions
    assert again["revisions_stored"] == 0 and again["duplicates"] == 2 * result["review_records"]
    assert first["records_per_s"] > 0 and "review records/s" in done.stderr


def test_bench_console_times_the_queue_filtered_by_sale_and_amount():
    done = CliRunner().invoke(main, ["bench", "console", "--orders", "2000", "--seed", "3", "--queue-cases", "1500"])
    assert done.exit_code == 0, done.output
    views = orjson.loads(done.stdout)["queue"]["views"]
    sales = [name for name in views if name.startswith("sale (")]
    assert len(sales) == 2 and "(none)" not in sales[0]  # the copies' orders are in one of ten sales
    assert sum(name.startswith("amount ") for name in views) == 2
    assert all(figures["n"] == 15 for name, figures in views.items() if not name.startswith("deep"))
