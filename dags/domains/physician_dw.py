"""Airflow DAG of one domain, written by `dagmesh dags`: edit its YAML and SQL, not this file.

One file per domain keeps a broken domain from taking the others down in Airflow.
Domain: physician_dw
"""

from dagmesh.airflow.loader import domain_dag

dag = domain_dag(__file__)
