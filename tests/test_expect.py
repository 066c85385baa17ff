"""paperlib.report.expect: a learning check enforced on the embedded data, reported elsewhere."""
import pytest

from paperlib.report import expect


def test_expect_enforces_or_reports(capsys):
    assert expect(True, "fine") is True
    with pytest.raises(AssertionError, match="loss did not fall"):
        expect(False, "loss did not fall")
    assert expect(0 > 1, "loss did not fall", enforce=False) is False
    assert capsys.readouterr().out == "not met (reported, not enforced): loss did not fall\n"
