"""Applying a plan's steps: backoff gates, bounded concurrency, results in plan order.

Engine layer, the last stage of a pass (``sync.Syncer.run_pass``). A step whose release
failed waits out its backoff unless Git changed it; the rest go to the target at most
``concurrency`` at a time (the hydrate target renders on every core, the Helm SDK's native
calls releasing the GIL), each started only while this replica may still act (it leads).
Results, backoff updates and progress follow plan order whatever order the steps end in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from controller.core.planning import Action, ReleaseState, Step
from controller.core.ports import Target
from controller.core.status import ActionResult
from controller.engine.backoff import Backoff

log = logging.getLogger(__name__)

Progress = Callable[[int, int, Step], None]


def apply_plan(
    steps: Sequence[Step],
    *,
    target: Target,
    backoff: Backoff,
    clock: Callable[[], float],
    concurrency: int,
    commit: str,
    progress: Progress | None,
    may_act: Callable[[], bool],
) -> tuple[list[ActionResult], list[Step]]:
    """The results of the steps that ran, and the steps backoff held back."""
    results: list[ActionResult] = []
    waiting: list[Step] = []
    now = clock()
    ready = []
    for step in steps:
        if backoff.blocked(_key(step), _digest(step), now, remedy=_remedy(step)):
            waiting.append(step)
        else:
            ready.append(step)
    applied = _applied(ready, target, commit, concurrency, may_act)
    for index, (step, result) in enumerate(applied):
        if result is None:
            continue  # not started: this replica no longer leads (the caller reports it)
        if progress is not None:
            progress(index + 1, len(ready), step)
        key, digest = _key(step), _digest(step)
        remedy = _remedy(step)
        if not result.ok or step.state is ReleaseState.STUCK:
            # An interrupted action counts as a failed attempt too (Flux marks a stale
            # pending release failed): after its rollback, Git's change is retried once
            # the backoff is over, not at the next full resync.
            backoff.failed(key, digest, clock())
        if result.ok and remedy and step.action in (Action.ROLLBACK, Action.UNINSTALL):
            # The count stays: the change the rollback or uninstall undid has yet to work.
            backoff.remediated(key)
        elif result.ok:
            backoff.succeeded(key)
        else:
            # Each attempt at debug: the loop reports a failed release once (core.problems).
            log.debug("%s %s/%s failed: %s", step.action, step.namespace, step.name, result.message)
        results.append(result)
    return results, waiting


def _applied(
    steps: Sequence[Step],
    target: Target,
    commit: str,
    concurrency: int,
    may_act: Callable[[], bool],
) -> Iterator[tuple[Step, ActionResult | None]]:
    """Each step with its result, in plan order, at most ``concurrency`` at a time.

    ``may_act`` is asked right before each step starts (on its worker thread): a step
    it refuses is not started and has no result (None).
    """

    def apply(step: Step) -> ActionResult | None:
        return target.apply(step, commit) if may_act() else None

    if concurrency == 1 or len(steps) < 2:
        for step in steps:
            result = apply(step)
            yield step, result
            if result is None:
                return
        return
    with ThreadPoolExecutor(concurrency, thread_name_prefix="apply") as pool:
        yield from zip(steps, pool.map(apply, steps), strict=True)


def _remedy(step: Step) -> bool:
    return step.state in (ReleaseState.FAILED, ReleaseState.STUCK)


def _key(step: Step) -> tuple[str, str]:
    return (step.namespace, step.name)


def _digest(step: Step) -> str:
    return step.desired.digest if step.desired else ""
