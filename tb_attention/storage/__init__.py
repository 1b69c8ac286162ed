"""Reading logged attention: `store` lists records through TensorBoard's data provider and reads
their layers (event blobs for format 1, payload chunks for format 2); `records` is the decoded
form of a record; `rundirs` finds a run's directory; `files` reads byte ranges of local and
remote (fsspec) files. Used by the server and by `read_attention`."""
