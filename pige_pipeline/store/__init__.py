"""What pige keeps on the data root, module by module.

- `chunks.py`: the chunk store of recorded audio (layout, listing, atomic publishing).
- `hour_audio.py`: one station's hour assembled from its chunk parts, with coverage.
- `gaps.py`: the recorder's gap log.
- `importer.py`: `pige import` of an existing archive into the chunk store.
- `parquet.py`: the hourly Parquet files of the assets and their run manifests.
"""
