"""The state of every domain, as the registry knows it (``dagmesh status``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dagmesh.engines.base import Session
from dagmesh.registry.store import Registry


@dataclass(frozen=True)
class DomainStatus:
    domain: str
    layer: str
    #: ``certified`` or ``failed`` (the latest build), ``running``, or ``never_run``.
    state: str
    #: The latest build, whatever its outcome.
    build_id: str | None = None
    run_id: str | None = None
    started_at: str | None = None
    message: str = ""
    tests_passed: int = 0
    tests_failed: int = 0
    tests_warned: int = 0
    #: What consumers read now: the latest certification.
    version: int | None = None
    certified_build_id: str | None = None
    certified_at: str | None = None
    ports: dict[str, dict[str, int]] = field(default_factory=dict)
    lineage: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def mesh_status(registry: Registry, session: Session, domains: list[tuple[str, str]]) -> list[DomainStatus]:
    """One status per ``(domain, layer)``, in the order given."""
    if not registry.exists(session):
        return [DomainStatus(name, layer, "never_run") for name, layer in domains]
    latest = registry.latest_builds(session)
    result = []
    for name, layer in domains:
        build = latest.get(name)
        if build is None:
            result.append(DomainStatus(name, layer, "never_run"))
            continue
        counts = registry.result_counts(session, build["build_id"])
        certification = registry.latest_certification(session, name)
        result.append(
            DomainStatus(
                domain=name,
                layer=layer,
                state=build["state"],
                build_id=build["build_id"],
                run_id=build["run_id"],
                started_at=_iso(build["started_at"]),
                message=build["message"] or "",
                tests_passed=counts["pass"],
                tests_failed=counts["fail"],
                tests_warned=counts["warn"],
                version=certification.version if certification else None,
                certified_build_id=certification.build_id if certification else None,
                certified_at=_iso(certification.certified_at) if certification else None,
                ports={
                    port: {"port_version": pv, "row_count": rows}
                    for port, (pv, rows) in (certification.ports.items() if certification else [])
                },
                lineage=certification.lineage if certification else {},
            )
        )
    return result
