"""The config wing: the typed schema that assembles each wing's options, validation before
anything is built, composition and resolvers, errors named by config key, and how old run
folders' configs map to the current layout. Free of torch and Lightning."""
