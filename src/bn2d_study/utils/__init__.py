"""Small helpers: Hydra resolvers, config printing."""
