from processor.commands.cli import main

raise SystemExit(main())
