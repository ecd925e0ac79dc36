"""Attribution of the ARI gap to divergent stages through stage-swapping hybrids."""
