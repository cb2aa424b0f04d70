"""Stand-in: the wrapper only checks that the model folder carries its processing code."""
