"""Run matrix: jobs of side runs and hybrids, executed on a submitit executor."""
