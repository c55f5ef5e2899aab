from chatledger.cli import main

raise SystemExit(main())
