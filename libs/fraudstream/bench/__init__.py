"""Benchmarks that print their figures and ratios against a baseline measured in the
same run (``fraudstream bench ...``). Machines are shared and noisy: each figure is
the median of several repeats."""
