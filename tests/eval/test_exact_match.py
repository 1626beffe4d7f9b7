"""The verifier of the arithmetic data: strict and extracted (last number) exact match, side by side."""

from __future__ import annotations

from decimal import Decimal

import pytest

from align.eval.exact_match import last_number, verify


@pytest.mark.parametrize(
    ("completion", "reference", "strict", "extracted"),
    [
        ("42", "42", True, True),
        (" 42\n", "42", True, True),  # both sides stripped
        ("23 + 19 = 42.", "42", False, True),  # a chat model's answer: its last number
        ("23 + 19 = 32.", "42", False, False),
        ("The answer is 42, not 41.", "42", False, False),  # the last number decides, as GSM8K's extraction does
        ("1,042", "1042", False, True),
        ("42.0", "42", False, True),
        ("23 - 65 = -42", "-42", False, True),
        ("65-23", "42", False, False),  # a minus between two operands is no sign
        ("no number here", "42", False, False),
        ("yes", "yes", True, True),  # a reference without a number: strict match only
        ("Yes.", "yes", False, False),
    ],
)
def test_strict_and_extracted_match(completion: str, reference: str, strict: bool, extracted: bool):
    verdict = verify(completion, reference)
    assert (verdict.strict, verdict.extracted) == (strict, extracted)


def test_last_number():
    assert last_number("23 + 19 = 42.") == Decimal(42)
    assert last_number("between 1,000 and 2,500.5") == Decimal("2500.5")
    assert last_number("none") is None
