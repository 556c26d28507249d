"""The provider's pure logic, free of I/O and of Airflow: what the API's exports are, date windows,
manifests, table schemas, BigQuery SQL and load plans, value rules, new fields, reconciliation and
pseudonymisation.

Every other layer builds on these modules; they import only the error family
(:mod:`airflow_provider_soundlink.errors`) and each other.
"""
