"""CPU machinery under the VGG features: device decisions, Winograd convolutions, the fused max-pool."""
