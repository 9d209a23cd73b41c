"""Exposes the dagmesh plugin when ``plugins/`` is Airflow's plugins folder (Astro).

Airflow imports this file as a top-level module; ``plugins/.airflowignore`` hides the
``dagmesh`` package itself from that walk. When dagmesh is pip-installed its entry
point registers the plugin instead, and this file stays silent so the plugin is
registered exactly once.
"""

from importlib.metadata import entry_points

if not any(ep.name == "dagmesh" for ep in entry_points(group="airflow.plugins")):
    from dagmesh.airflow.plugin import DagmeshPlugin

    __all__ = ["DagmeshPlugin"]
