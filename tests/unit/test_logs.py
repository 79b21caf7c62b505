"""Logging never shows a secret: not as a field, and not in an exception's traceback (whose frames' locals
can hold a bearer token or the AMI secret)."""

from __future__ import annotations

import structlog

from cbdialer.logs import configure_logging


def test_a_traceback_shows_no_locals_and_secret_fields_are_redacted(capsys) -> None:  # noqa: ANN001
    try:
        _check_both_formats(capsys)
    finally:
        structlog.reset_defaults()  # the loggers configured here write to this test's captured stderr


def _check_both_formats(capsys) -> None:  # noqa: ANN001
    for fmt in ("console", "json"):
        configure_logging(fmt, "info")
        log = structlog.get_logger("test")
        token = "tok-" + "s3cr3t" * 4  # a local of the failing frame, as in a request handler

        try:
            raise ValueError(f"boom {len(token)}")
        except ValueError:
            log.exception("request_failed", secret="hunter2", authorization=f"Bearer {token}")
        err = capsys.readouterr().err
        assert "request_failed" in err and "ValueError: boom 28" in err
        assert token not in err and "hunter2" not in err
