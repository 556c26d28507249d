from soundlink_sandbox.cli import main

raise SystemExit(main())
