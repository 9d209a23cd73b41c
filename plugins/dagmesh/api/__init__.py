"""The REST API and the Mesh page that the dagmesh Airflow plugin serves on the api-server."""
