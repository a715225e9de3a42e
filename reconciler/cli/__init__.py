"""The edge: parse arguments, run one command, print it, map errors to exit codes."""
