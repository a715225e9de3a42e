"""Read-only IO: look at envs, probe them, walk their RECORDs, read the inputs."""
