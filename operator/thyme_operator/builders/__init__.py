"""Builders: pure functions from a ThymeRun spec to child manifests (plain dicts).

One module per kind (`job`, `service`, `deployment`, `networkpolicy`), plus `pods` for
what every stage pod shares (credentials, labels, scheduling) and `stages` for which
children each stage needs. No client, no I/O: `planner.py` composes them and `kube.py`
writes the result, so every manifest is reachable from a unit test.
"""
