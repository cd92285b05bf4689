"""Stage programs (convert, sft, rl) and the artifact store they all read and write.

Importing this package is cheap: heavy libraries (torch, pyarrow) load only inside
the stage that needs them, so the operator and the CLI can use `thyme_jobs.store`.
"""
