"""Printed Sharpe ratios say their unit (issue 22.4)."""

from btcrl.cli.tune import _label, _num


def test_a_printed_sharpe_says_it_is_annualised() -> None:
    assert _label("sharpe") == "sharpe (annualised)"
    assert _label("oos/sharpe") == "oos/sharpe (annualised)"
    assert _label("oos/sharpe_per_bar") == "oos/sharpe_per_bar"  # its name says its unit
    assert _label("total_return") == "total_return"


def test_returns_print_in_percent_and_the_rest_as_numbers() -> None:
    assert _num(0.1234, "total_return") == "+12.34%"
    assert _num(1.23456, "sharpe") == "1.235"
    assert _num(None, "sharpe") == "n/a"
