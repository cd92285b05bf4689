"""OpenThinkIMG's side of the agent loop, as pure functions: its JSON replies and
observations (`actions`), and the scoring of its ChartGemma benchmark (`chartgemma`).

The tool protocol that plugs these into the shared agent loop, the V-ToolRL recipe and
the example build on them; the tools themselves are `thyme_tools` workers.
"""
