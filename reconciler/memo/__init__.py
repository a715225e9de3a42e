"""Optional caches, safe to delete: plan replay and verify scope."""
