"""Pure: versioned documents, and their text, markdown and JSON renderings."""
