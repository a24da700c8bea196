"""Fast networks (Johnson et al. 2016): the network, its training data and training, exports."""
