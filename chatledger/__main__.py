from chatledger.cli.main import main

raise SystemExit(main())
