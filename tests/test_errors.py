"""The supervisor's ``*_NOT_FOUND`` errors read as sentences naming what is missing."""

from __future__ import annotations

import pytest

from trio_coord import ApiError, ConnectionNotFound, VariableNotFound


@pytest.mark.parametrize(
    ("code", "detail", "expected"),
    [
        ("VARIABLE_NOT_FOUND", {"key": "city"}, "the variable 'city' does not exist [VARIABLE_NOT_FOUND]"),
        (
            "CONNECTION_NOT_FOUND",
            {"conn_id": "warehouse"},
            "the connection 'warehouse' does not exist [CONNECTION_NOT_FOUND]",
        ),
        (
            "XCOM_NOT_FOUND",
            {"key": "rows", "task_id": "extract"},
            "the XCom 'rows' does not exist (task_id='extract') [XCOM_NOT_FOUND]",
        ),
        ("ASSET_NOT_FOUND", {"uri": "s3://b/k"}, "the asset 's3://b/k' does not exist [ASSET_NOT_FOUND]"),
        # Without the identifying field there is nothing to name: the code and the detail as sent.
        ("VARIABLE_NOT_FOUND", {"other": 1}, "[VARIABLE_NOT_FOUND] {'other': 1}"),
        ("VARIABLE_NOT_FOUND", None, "VARIABLE_NOT_FOUND"),
    ],
)
def test_not_found_errors_read_as_sentences(
    code: str, detail: dict[str, object] | None, expected: str
) -> None:
    assert str(ApiError.from_error(code, detail)) == expected


def test_the_sentence_does_not_change_what_the_error_is() -> None:
    error = ApiError.from_error("VARIABLE_NOT_FOUND", {"key": "city"})
    assert isinstance(error, VariableNotFound)
    assert isinstance(error, KeyError)
    assert (error.error, error.detail) == ("VARIABLE_NOT_FOUND", {"key": "city"})
    assert not isinstance(ApiError.from_error("CONNECTION_NOT_FOUND"), VariableNotFound)
    assert isinstance(ApiError.from_error("CONNECTION_NOT_FOUND"), ConnectionNotFound)
