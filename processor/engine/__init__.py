"""The data path: intake, flow, lanes, handling, the emitter, offsets and commits, and their wiring.

A record goes intake -> workers -> handle -> emit -> (broker ack) -> offsets -> commit.
"""
