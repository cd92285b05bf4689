"""The `thyme` command line: the local executor and entry points for every component."""
