"""Airflow's simple auth manager with per-DAG read access, as a FAB or Keycloak setup gives.

Set ``AIRFLOW__CORE__AUTH_MANAGER`` to this class and ``DAGMESH_TEST_DAG_ACCESS`` to
``user=dag_a,dag_b``: that user may read only those DAGs; everyone else is as configured
for the simple auth manager.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class PerDagAuthManager(SimpleAuthManager):
    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        name, _, dags = os.environ.get("DAGMESH_TEST_DAG_ACCESS", "").partition("=")
        if (
            details is not None
            and details.id
            and user.get_name() == name
            and details.id not in dags.split(",")
        ):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
