"""Asking a coordinator again while it loads, and giving up after the wait."""

from __future__ import annotations

import pytest
from aiokafka.errors import CoordinatorLoadInProgressError, GroupAuthorizationFailedError

from processor.commands import coordinator
from processor.commands.coordinator import once_ready


async def test_a_loading_coordinator_is_asked_again_until_it_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(coordinator, "POLL_S", 0.001)
    answers: list[BaseException | str] = [CoordinatorLoadInProgressError(), "offsets"]

    async def ask() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert await once_ready(ask) == "offsets"
    assert answers == []


async def test_it_gives_up_after_the_wait_and_other_errors_pass_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(coordinator, "POLL_S", 0.001)
    asked = 0

    async def loading() -> str:
        nonlocal asked
        asked += 1
        raise CoordinatorLoadInProgressError()

    with pytest.raises(CoordinatorLoadInProgressError):
        await once_ready(loading, wait_s=0.02)
    assert asked > 1

    async def refused() -> str:
        raise GroupAuthorizationFailedError()

    with pytest.raises(GroupAuthorizationFailedError):
        await once_ready(refused)
