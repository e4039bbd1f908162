"""The data path: intake, flow, the scheduler, handling, the emitter, offsets and commits, wiring.

A record goes intake -> scheduler -> handle (route, in its executor) -> emit -> (broker ack)
-> assignments (offsets) -> commit.
"""
