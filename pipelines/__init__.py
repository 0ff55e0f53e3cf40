"""The pipelines stage: ingestion/validation code (`pipelines.ingest`) and the Airflow DAGs
(`pipelines/dags/`, which only orchestrate calls into the stage packages)."""
