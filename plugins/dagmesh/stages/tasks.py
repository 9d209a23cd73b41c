"""The tasks of one domain's build and what each waits for, declared once.

The Airflow DAG (:mod:`dagmesh.airflow.factory`) makes one operator of each task and
the local runner (:mod:`dagmesh.stages.local`) calls the stage of each in turn; both
read this plan, so a local run and an Airflow run do the same work in the same order::

    check_inputs.sources >> check_inputs.upstreams
      >> build.prepare >> build.<model> (in ref() order)
      >> test.<port> | test.<model with column tests> | test.<custom test>
      >> certify.publish   (runs whatever happened before it: it records the outcome)

With ``task_granularity: stage`` (:func:`by_stage`) the Airflow DAG runs each group but
``certify`` as one task of those steps, in the same order::

    check_inputs.all >> build.all >> test.all >> certify.publish

and with ``task_granularity: domain`` (:func:`by_domain`) every step, the gate last, as
one task (it is then the one with the Asset outlets)::

    stages.all
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from dagmesh.config.model import Domain
from dagmesh.stages.dag_spec import TaskSpec

Kind = Literal["sources", "upstreams", "prepare", "model", "checks", "custom", "certify", "stage"]
Group = Literal["check_inputs", "build", "test", "certify", "stages"]

#: The task groups, in the order a build goes through them, with what each is for.
GROUPS: dict[Group, str] = {
    "check_inputs": "Sources fresh; upstream ports certified and consistent",
    "build": "Models, in ref() order, into the build schema",
    "test": "Standard pack, column, port and custom SQL tests",
    "certify": "Gate, atomic publish, Asset events",
}
#: The group of the one task of a build under ``task_granularity: domain``.
ALL_STAGES: Group = "stages"
TOOLTIPS: dict[Group, str] = {
    **GROUPS,
    ALL_STAGES: "check_inputs, build, test and the gate in one task",
}


@dataclass(frozen=True)
class StageTask:
    group: Group
    #: The model, port, custom test or step the task is for (its id inside the group).
    name: str
    kind: Kind
    #: Ids of the tasks that must have succeeded first (``certify`` only needs them done).
    upstream: tuple[str, ...] = ()
    #: The first task of a run records the build's start in the registry.
    opens_build: bool = False
    #: A ``stage`` task's steps: the tasks of its group, run in order in one task.
    steps: tuple[StageTask, ...] = ()

    @property
    def task_id(self) -> str:
        return f"{self.group}.{self.name}"

    @property
    def runs_whatever_happened(self) -> bool:
        """True for the gate: it records a failed build as not certified."""
        return self.kind == "certify"


def domain_tasks(
    domain: Domain, model_order: Sequence[str], model_refs: Mapping[str, Sequence[str]]
) -> list[StageTask]:
    """Every task of a build of ``domain``, each after the tasks it waits for."""
    tasks: list[StageTask] = []
    if domain.sources or not domain.consumes:
        tasks.append(StageTask("check_inputs", "sources", "sources", opens_build=True))
    if domain.consumes:
        after = tuple(t.task_id for t in tasks)
        tasks.append(StageTask("check_inputs", "upstreams", "upstreams", after, opens_build=not tasks))
    prepare = StageTask("build", "prepare", "prepare", (tasks[-1].task_id,))
    tasks.append(prepare)
    models = [
        StageTask(
            "build",
            name,
            "model",
            tuple(dict.fromkeys(f"build.{r}" for r in model_refs.get(name, ()))) or (prepare.task_id,),
        )
        for name in model_order
    ]
    tasks += models
    referenced = {u for m in models for u in m.upstream}
    built = tuple(m.task_id for m in models if m.task_id not in referenced) or (prepare.task_id,)
    tests = [StageTask("test", port, "checks", built) for port in domain.outputs]
    tests += [
        StageTask("test", model.name, "checks", built)
        for model in domain.models
        if model.columns and model.name not in domain.outputs
    ]
    tests += [StageTask("test", custom.name, "custom", built) for custom in domain.tests]
    tasks += tests
    tasks.append(StageTask("certify", "publish", "certify", tuple(t.task_id for t in tests) or built))
    return tasks


#: The name of a combined task (``build.all``, ``stages.all``).
STAGE_TASK = "all"


def by_stage(tasks: Sequence[StageTask]) -> list[StageTask]:
    """``tasks`` (a :func:`domain_tasks` plan) as one task per group, ``certify`` kept as it is."""
    return _combined(tasks, lambda task: "certify" if task.kind == "certify" else task.group)


def by_domain(tasks: Sequence[StageTask]) -> list[StageTask]:
    """``tasks`` (a :func:`domain_tasks` plan) as one task, the gate its last step."""
    return _combined(tasks, lambda task: ALL_STAGES)


def _combined(tasks: Sequence[StageTask], group_of: Callable[[StageTask], Group]) -> list[StageTask]:
    """``tasks`` with the steps of each ``group_of`` group run in order as one task; a
    ``certify`` group stays the gate task it is.

    A combined task runs its steps in plan order; a step whose upstream step failed is
    skipped, as the task would be (the gate runs whatever happened), and the task fails
    once every step had its turn.
    """
    groups: dict[Group, list[StageTask]] = {}
    for task in tasks:
        groups.setdefault(group_of(task), []).append(task)
    owner = {
        t.task_id: (t.task_id if g == "certify" else f"{g}.{STAGE_TASK}")
        for g, ts in groups.items()
        for t in ts
    }
    combined: list[StageTask] = []
    for group, steps in groups.items():
        upstream = tuple(
            dict.fromkeys(owner[u] for s in steps for u in s.upstream if owner[u] != owner[s.task_id])
        )
        if group == "certify":
            combined += [StageTask(s.group, s.name, s.kind, upstream) for s in steps]
        else:
            combined.append(StageTask(group, STAGE_TASK, "stage", upstream, steps=tuple(steps)))
    return combined


def stage_task(spec: TaskSpec) -> StageTask:
    """The task a :class:`~dagmesh.stages.dag_spec.TaskSpec` describes."""
    return StageTask(
        cast(Group, spec["group"]),
        spec["name"],
        cast(Kind, spec["kind"]),
        tuple(spec["upstream"]),
        spec["opens_build"],
        tuple(stage_task(step) for step in spec["steps"]),
    )
