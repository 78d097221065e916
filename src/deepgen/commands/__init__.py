"""One module per `deepgen` command: each has USAGE (usage line, description) pairs and run(argv) -> int."""
