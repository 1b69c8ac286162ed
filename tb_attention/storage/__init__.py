"""Reading logged attention, for the server and `read_attention`: `store` (`AttentionStore`) lists
records through `index` (TensorBoard's data provider; step-list and header caches) and opens each
stored part as a `stored_part.StoredPart`, the one interface its layers are read through; `layers`
decodes format-1 and format-2 (dense, sparse) layers, `thumbnails` the overview thumbnails;
`sources` reads one record's bytes (event blobs, payload chunks), `files` is the seam for byte
ranges of local and remote (fsspec) files where another backend plugs in; `records` is the
decoded header, `rundirs` finds a run's directory, `cache` an LRU."""
