from airflow_provider_soundlink.sandbox.cli import main

raise SystemExit(main())
