"""The optimiser (Gatys et al. 2015): the compiled step, stylize(), its callbacks, checkpoints, figures and the files a run writes."""
