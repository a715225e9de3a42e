"""IO: the Python a build uses: the installed one observe.pythons finds, or, when nothing is
found and ``python_downloads = "automatic"``, one ``uv python install <version>`` fetches
(at most ``uv.INSTALL_TIMEOUT`` seconds; the search is then repeated). With ``"manual"`` or
``"never"`` :class:`~reconciler.errors.PythonNotFound` is raised at once.
"""

from __future__ import annotations

import threading

from reconciler.core.pythons import missing_python
from reconciler.errors import PythonNotFound
from reconciler.execute.uv import python_install_command
from reconciler.observe.pythons import Interpreter, installed, uv_reason
from reconciler.runner import Unfinished, attempt, uv_bin
from reconciler.spec.manifest import PythonDownloads

_lock = threading.Lock()
_failed: dict[tuple[str, str], str] = {}


def find_python(
    version: str,
    downloads: PythonDownloads,
    *,
    windows: bool,
    uv: str | None = None,
    env: str | None = None,
) -> Interpreter:
    """The newest working CPython matching ``version`` (``"3.11"`` or ``"3.11.7"``), searched
    where ``windows`` (or POSIX) installs them, and named so in the hint when there is none.

    ``uv`` is the uv binary to run (default: the one of the ``uv`` package). Raises
    :class:`PythonNotFound` (one sentence naming the version, ``env`` when given, and how to
    provide it) when no interpreter is found and ``downloads`` is not ``"automatic"``, or the
    download fails. A failed download is not tried again in this process: a second env on
    the same Python fails at once.
    """
    uv = uv or uv_bin()
    with _lock:  # at most one download at a time, even from parallel builds
        found = installed(version, windows=windows, uv=uv)
        if found is not None:
            return found
        hint = missing_python(version, downloads, windows=windows, env=env)
        if downloads != "automatic":
            raise PythonNotFound(version, hint)
        failure = _failed.get((version, uv))
        if failure is None:
            failure = _install(version, uv)
            if failure is None:
                found = installed(version, windows=windows, uv=uv, fresh=True)
                if found is not None:
                    return found
                failure = (
                    f"`uv python install {version}` succeeded, but no working interpreter was found"
                )
            _failed[(version, uv)] = failure
        raise PythonNotFound(version, hint, (failure,))


def _install(version: str, uv: str) -> str | None:
    """Run ``uv python install``; None on success, else one line saying why it failed."""
    result = attempt(python_install_command(uv, version))
    if isinstance(result, Unfinished):
        if result.timeout is not None:
            return f"`uv python install {version}` did not finish within {result.timeout:g} s"
        return f"`uv python install {version}` could not run: {result.error}"
    if result.ok:
        return None
    return f"`uv python install {version}` failed: {uv_reason(result.stderr or result.stdout)}"
