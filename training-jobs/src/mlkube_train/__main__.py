from mlkube_train.cli import main

raise SystemExit(main())
