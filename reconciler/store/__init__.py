"""IO under the root: layout, generations, removal record, bindings, the apply lock."""
