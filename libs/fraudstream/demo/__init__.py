"""``fraudstream demo``: the whole loop in one command, on a machine with only Python."""
