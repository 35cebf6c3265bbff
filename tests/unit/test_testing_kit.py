"""connector_proxy.sdk.testing's fake_context: a command run in the test's process, no daemon."""

from __future__ import annotations

import time

from connector_proxy.sdk import Connector, Context, Result, Returned, invoke
from connector_proxy.sdk.testing import fake_context

kit = Connector("kit", description="A connector run with the kit's context.", version="0.1.0")


@kit.command("Echo")
def echo(ctx: Context, word: str) -> Result:
    """Echo the word, with what the context says."""
    ctx.log.info("echoing %s", word)
    return Result(
        {"word": word, "greeting": ctx.config["greeting"], "task": ctx.task_id, "db": ctx.resources}
    )


def test_a_command_runs_in_the_tests_process_with_a_fake_context() -> None:
    ctx = fake_context({"greeting": "hi"}, resources="a pool", task_id="t-1")

    answer = invoke(kit.commands["Echo"], ctx, {"word": "x"})

    assert answer == Returned(Result({"word": "x", "greeting": "hi", "task": "t-1", "db": "a pool"}))
    assert ctx.log.lines == ["[INFO] echoing x"]


def test_its_deadline_is_the_seconds_given() -> None:
    before = time.monotonic()
    ctx = fake_context(seconds=2.0)

    assert before + 2.0 <= ctx.deadline <= time.monotonic() + 2.0
    assert ctx.config == {} and ctx.resources is None
