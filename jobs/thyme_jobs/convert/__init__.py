"""The convert stage: the Thyme-SFT parquet dump in, checked images + JSONL + manifests out.

Pure modules (`rows`, `images`, `sharding`, `transform`, `manifests`) hold the rules;
`sources` reads the dump, `uploads` and `main` do the storing and committing, `cli`
parses arguments. See `main.py` for the order of writes that makes reruns safe.
"""
