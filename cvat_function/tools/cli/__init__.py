"""The CLI verbs. Each module defines HELP (one line), add_arguments(parser) and run(args) -> exit code."""
