"""Breaking changes to output-port contracts between two versions of a project.

Consumers rely on a port's columns, their types and its primary key. Removing or
changing any of them breaks consumers unless the port's major ``version`` was raised
with the change; adding columns or ports is always fine. A removed port is always
reported: consumers (including ones outside the mesh) still read it.
"""

from __future__ import annotations

from dagmesh.config.model import Domain, OutputPort
from dagmesh.config.project import Project
from dagmesh.errors import ConfigError, Location


def breaking_changes(base: Project, head: Project, base_name: str) -> list[ConfigError]:
    """Every breaking contract change from ``base`` (at revision ``base_name``) to ``head``."""
    problems: list[ConfigError] = []
    for name, before in sorted(base.domains.items()):
        after = head.domains.get(name)
        if after is None:
            if name in head.domain_files:
                continue  # its config is broken now; that is reported on its own
            for port in before.outputs.values():
                problems.append(
                    ConfigError.at(
                        port.loc,
                        f"output port {name}.{port.name} was removed (domain {name} no longer exists; "
                        f"it existed at {base_name}); its consumers would break",
                    )
                )
            continue
        for port_name, old in before.outputs.items():
            new = after.outputs.get(port_name)
            if new is None:
                problems.append(
                    ConfigError.at(
                        after.loc,
                        f"output port {name}.{port_name} was removed (it existed at {base_name}); "
                        "its consumers would break",
                    )
                )
                continue
            problems.extend(_port_changes(after, old, new, base_name))
    return problems


def _port_changes(domain: Domain, old: OutputPort, new: OutputPort, base_name: str) -> list[ConfigError]:
    ref = f"{domain.name}.{new.name}"
    if new.version < old.version:
        return [ConfigError.at(new.loc, f"port {ref} version went down from {old.version} to {new.version}")]
    if new.version > old.version:
        return []  # a new major version may change anything
    changes: list[tuple[Location, str]] = []
    for column, declared in old.columns.items():
        current = new.columns.get(column)
        if current is None:
            changes.append((new.loc, f"column '{column}' was removed"))
        elif current.family != declared.family:
            changes.append(
                (current.loc, f"column '{column}' changed type from {declared.type} to {current.type}")
            )
    if tuple(new.primary_key) != tuple(old.primary_key):
        before = ", ".join(old.primary_key) or "none"
        after = ", ".join(new.primary_key) or "none"
        changes.append((new.loc, f"primary key changed from ({before}) to ({after})"))
    hint = f"raise its version to {old.version + 1} to publish a breaking change"
    return [
        ConfigError.at(where, f"breaking change to port {ref} since {base_name}: {what}; {hint}")
        for where, what in changes
    ]
