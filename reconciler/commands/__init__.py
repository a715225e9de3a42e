"""One use case per verb; each returns data and never prints."""
