"""How uv's failures to reach a package source become one sentence (execute/uv.py
``unreachable_index``), shared by `lock` and `apply`; the stderr below is uv 0.13's, as
captured from real runs against a closed port, a name that does not resolve and a server
that never answers."""

from __future__ import annotations

import pytest

from reconciler.execute.uv import unreachable_index

REFUSED = """\
error: Failed to fetch: http://127.0.0.1:9/simple/alpha/
  cause: error sending request for url (http://127.0.0.1:9/simple/alpha/)
  cause: client error (Connect)
  cause: tcp connect error
  cause: Connection refused (os error 111)
"""
REFUSED_AFTER_RETRIES = """\
Using Python 3.11.7 environment at: v
error: Request failed after 3 retries in 11.6s
  cause: Failed to fetch: http://127.0.0.1:9/simple/alpha/
  cause: error sending request for url (http://127.0.0.1:9/simple/alpha/)
  cause: client error (Connect)
  cause: tcp connect error
  cause: Connection refused (os error 111)
"""
NO_SUCH_HOST = """\
error: Failed to fetch: http://nonexistent.invalid/simple/alpha/
  cause: error sending request for url (http://nonexistent.invalid/simple/alpha/)
  cause: client error (Connect)
  cause: dns error
  cause: error resolving DNS
  cause: failed to lookup address information: Name or service not known
"""
FIND_LINKS = """\
error: Failed to read `--find-links` URL: http://127.0.0.1:9/links
  cause: Failed to fetch: http://127.0.0.1:9/links
  cause: error sending request for url (http://127.0.0.1:9/links)
  cause: client error (Connect)
  cause: tcp connect error
  cause: Connection refused (os error 111)
"""
SILENT = """\
error: Failed to fetch: `http://127.0.0.1:36259/simple/alpha/`
  cause: error sending request for url (http://127.0.0.1:36259/simple/alpha/)
  cause: operation timed out
"""
NOT_FOUND = """\
error: No solution found when resolving dependencies
  cause: Because zeta was not found in the provided package locations and you require \
zeta==1.0, we can conclude that your requirements are unsatisfiable.
"""
HASH_MISMATCH = """\
error: Failed to download `alpha==1.0`
  cause: Hash mismatch for `alpha==1.0`

         Expected:
           sha256:3e62d78a4023e36db3c9cba1e63af175c4da99e7060e955c8ad8fe92a3b78ebd

         Computed:
           sha256:2e51d67a3912e25db2c8cba0e52af064c3da88e6959e844c7ad7fe81a2b67ebd
"""
CHECK = "check the network and the sources in envs.toml."


@pytest.mark.parametrize(
    ("stderr", "why"),
    [
        (REFUSED, "http://127.0.0.1:9/simple/alpha/: Connection refused"),
        (REFUSED_AFTER_RETRIES, "http://127.0.0.1:9/simple/alpha/: Connection refused"),
        (
            NO_SUCH_HOST,
            "http://nonexistent.invalid/simple/alpha/: failed to lookup address information: "
            "Name or service not known",
        ),
        (FIND_LINKS, "http://127.0.0.1:9/links: Connection refused"),
        (SILENT, "http://127.0.0.1:36259/simple/alpha/: operation timed out"),
    ],
    ids=["refused", "refused-after-retries", "no-such-host", "find-links", "never-answers"],
)
def test_an_unreachable_source_is_one_sentence_naming_the_url_and_the_last_cause(
    stderr: str, why: str
) -> None:
    sentence = unreachable_index(stderr, "installing the lockfile for tools")

    assert sentence == (
        f"cannot reach the package index while installing the lockfile for tools ({why}): {CHECK}"
    )
    assert "\n" not in sentence


@pytest.mark.parametrize(
    "stderr", [NOT_FOUND, HASH_MISMATCH, ""], ids=["not-found", "hash", "none"]
)
def test_a_failure_that_is_not_the_network_is_left_to_the_caller(stderr: str) -> None:
    assert unreachable_index(stderr, "locking tools") is None
