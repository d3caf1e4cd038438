"""Generation: the model registry, diffusers pipelines, the batching GPU worker and classical styles."""
