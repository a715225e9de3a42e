"""Pure: what is asked for. The manifest, lockfiles, RECORD files, saved plans."""
