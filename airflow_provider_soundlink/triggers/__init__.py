"""Triggers the deferrable operators wait on in Airflow's triggerer."""
