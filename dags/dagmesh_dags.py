"""Airflow DAGs for every domain of the mesh in ../dag_configs (built by dagmesh)."""

from dagmesh.airflow.loader import load_mesh_dags

globals().update(load_mesh_dags(__file__))
