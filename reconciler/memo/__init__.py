"""Optional caches, all of them safe to delete: plan replay (``plan``), the verify scope
(``verify``), health verdicts (``health``) and the stat identities they rest on
(``identity``). Deleting ``<root>/.cache/`` only costs the next run its speed."""
