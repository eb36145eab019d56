"""Native chatter is kept off the console, and shown after all when the body fails."""

from __future__ import annotations

import os

import pytest

from cnnlib.quiet import native_output_captured


def test_quiet_on_success_and_replayed_on_failure(capfd: pytest.CaptureFixture[str]) -> None:
    with native_output_captured():
        os.write(1, b"native stdout\n")
        os.write(2, b"native stderr\n")
        print("python print")
    out, err = capfd.readouterr()
    assert "native" not in out + err and "python print" not in out + err
    with pytest.raises(ValueError), native_output_captured():
        os.write(2, b"why it failed\n")
        print("and what Python said")
        raise ValueError("boom")
    out, err = capfd.readouterr()
    assert "why it failed" in err and "and what Python said" in err
