"""IO: carry out a plan: the executor and the uv builder."""
