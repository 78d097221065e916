from deepgen.cli import main

raise SystemExit(main())
