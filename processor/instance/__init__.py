"""One instance, several consumer processes: the supervisor, the CPUs it may use, merged endpoints.

Never loads the data path: the supervisor stays small.
"""
