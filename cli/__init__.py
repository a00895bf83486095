"""The `longcepo` command line: `main.py` parses, one module per subcommand does the work."""
