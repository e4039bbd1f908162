"""The ``processor`` command and its subcommands: run, broker, topics, produce, dlq, audit."""
