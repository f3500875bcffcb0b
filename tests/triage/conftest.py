"""Triage page, API and record tests. They call the real engine on the shipped knowledge graph."""

from __future__ import annotations

from typing import Any

import pytest

# Texts and what the engine answers for them (checked against the real engine in the tests).
CALL_120_ZH = "胸口剧痛，出冷汗，左臂发麻"
EMERGENCY_EN = "sudden weakness on one side of my face and slurred speech"
QUESTION_EN = "I have had a sore throat and runny nose for two days"
CARDIOLOGY_ZH = "心慌，有时候胸口闷，走路快了就喘"  # departments, cardiology (03.04) first
NEGATED_ZH = "咳嗽三天，有痰，不发烧"  # departments, fever said to be absent
UNCLEAR = "blah blah nothing at all"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """These tests are not about passwords: a cheap hasher keeps building users fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
