# An Airflow 3.3.2 image running this project's mesh. The layout is Astro's: dags/,
# plugins/ (the dagmesh package, exposed by plugins/dagmesh_plugin.py), include/, plus
# dag_configs/ and sql/. On Astro, keep your Runtime FROM line and the rest as is.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.txt constraints.txt /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt -c /opt/airflow/constraints.txt

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root dag_configs/ /opt/airflow/dag_configs/
COPY --chown=airflow:root sql/ /opt/airflow/sql/

ENV AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PYTHONPATH=/opt/airflow/plugins
