"""dagmesh: checks that dags/domains/ holds one DAG file per domain of ../dag_configs.

Each domain's DAG is built by its own file in dags/domains/ (written by `dagmesh dags`),
so that a broken domain never takes the others down. This file builds no DAG: when a
domain has no file, or a file belongs to no domain, it shows as an import error here.
"""

from dagmesh.airflow.loader import check_dag_files

globals().update(check_dag_files(__file__))
