"""Letter 004: emulation blocks, criteria sheets, self-scoring, cross-check and ranking."""
