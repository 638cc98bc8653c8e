"""Pure core: values and decisions, no I/O."""
