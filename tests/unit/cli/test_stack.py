"""`oma stack restore --from`: which backups a user's words name."""

from __future__ import annotations

import pytest

from oma.cli.stack import job_outcome, parse_from


def test_latest_means_both_databases_and_files_name_one() -> None:
    assert parse_from(["latest"]) == [("postgres", "latest"), ("redis", "latest")]
    assert parse_from(["redis/20261126T030000Z.rdb"]) == [("redis", "20261126T030000Z.rdb")]
    both = parse_from(["postgres/20261126T030000Z.dump", "redis/latest"])
    assert both == [("postgres", "20261126T030000Z.dump"), ("redis", "latest")]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["mysql/x.dump"], "expected latest"),
        (["postgres/20261126T030000Z.rdb"], "end in .dump"),
        (["latest", "postgres/20261126T030000Z.dump"], "two postgres backups"),
    ],
)
def test_ambiguous_or_wrong_sources_are_refused(values: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_from(values)


def test_a_job_is_finished_by_its_conditions() -> None:
    assert job_outcome({"status": {"active": 1}}) is None
    assert job_outcome({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == "Complete"
    failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "1 failed"}
    assert job_outcome({"status": {"conditions": [failed]}}) == "Failed: BackoffLimitExceeded 1 failed"
