from soundlink_stand_ins.cli import main

raise SystemExit(main())
