"""``processor archive``: topics to Parquet files, each record in exactly one file.

The data path, top to bottom: :mod:`archiver` polls and fills one open file per partition
(:mod:`rolling` says when it is full), hands sealed files to :mod:`writer` (off the event loop),
which builds the columns (:mod:`columns`, from the types of :mod:`schema`) and writes them
through :mod:`files` (temporary name, fsync, rename); only then are the offsets committed.
:mod:`layout` names every file from its partition and offsets, and :mod:`recovery` reads those
names back after a restart. Everything here but :mod:`archiver`, :mod:`files` and :mod:`writer`
is pure. pyarrow is an optional dependency (the ``archive`` extra): ``processor.commands.archive``
checks that it is installed before importing anything here.
"""
