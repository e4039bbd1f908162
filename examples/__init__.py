"""Sample data and example pipelines to copy (see ``examples/README.md``)."""
