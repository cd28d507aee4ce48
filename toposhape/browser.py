"""A page as a reader's browser shows it: headless Chromium driven over its DevTools pipe.

:class:`Browser` starts Debian's ``chromium`` once with ``--remote-debugging-pipe`` (the
DevTools protocol over two file descriptors, so no network port and no extra package),
and :meth:`Browser.visit` opens a page, waits until it has loaded and MathJax has typeset
it, and returns what a reader would meet: console errors, uncaught exceptions, resources
that failed to load, and how many of the page's equations were rendered.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

#: Executable names tried, in order, when none is given.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--window-size=1280,2000",
    "--remote-debugging-pipe",
)

#: Runs in the page once it has loaded: waits for MathJax's first typesetting, then
#: counts the page's equations (Sphinx's ``.math`` elements), those MathJax rendered,
#: and text outside rendered equations and code that still reads as LaTeX.
_SUMMARY_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const maths = Array.from(document.querySelectorAll('.math'));
  const unrendered = maths.filter(m => !m.querySelector('mjx-container'))
                          .map(m => m.textContent.trim().slice(0, 80));
  const latex = /\\\(|\\\[|\\begin\{|\$[^$\n]*\\[A-Za-z]+[^$\n]*\$/;
  const raw = [];
  const top = document.body || document.documentElement;
  const walker = document.createTreeWalker(top, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('mjx-container, .math, script, style, pre, code, textarea')) {
      continue;
    }
    if (latex.test(node.nodeValue)) raw.push(node.nodeValue.trim().slice(0, 80));
  }
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const wide = [];
  if (article) {
    // Folded blocks are measured as a reader who unfolds them sees them.
    article.querySelectorAll('details').forEach(d => { d.open = true; });
    article.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
    const limit = article.clientWidth + 2;
    article.querySelectorAll('mjx-container[display="true"], table, img').forEach(e => {
      const width = Math.max(e.scrollWidth, e.getBoundingClientRect().width);
      if (width > limit) {
        const what = (e.textContent || e.getAttribute('src') || '').trim().slice(0, 60);
        wide.push(`<${e.tagName.toLowerCase()}> ${Math.round(width)} px in a ` +
                  `${Math.round(limit)} px column: ${what}`);
      }
    });
  }
  return JSON.stringify({equations: maths.length, unrendered: unrendered, raw_latex: raw,
                         too_wide: wide});
})()
"""


class PageView(NamedTuple):
    """What a reader's browser met on one page.

    Attributes
    ----------
    url : str
    errors : list of str
        Console errors, uncaught exceptions and failed loads, one line each.
    equations : int
        Equations on the page (Sphinx's ``.math`` elements, one per equation of the source).
    unrendered : list of str
        The start of each equation MathJax did not render.
    raw_latex : list of str
        Text outside equations and code that still reads as LaTeX (``\\(``, ``$\\eta$``…).
    too_wide : list of str
        Display equations, tables and images wider than the page's text column (at the
        browser's 1280 px window), which the reader has to scroll sideways.
    """

    url: str
    errors: list[str]
    equations: int
    unrendered: list[str]
    raw_latex: list[str]
    too_wide: list[str]


def find_chromium(names: Sequence[str] = CHROMIUM_NAMES) -> str | None:
    """The path of the first of ``names`` on ``PATH``, or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium, driven over the DevTools pipe; use as a context manager.

    Parameters
    ----------
    executable : str, optional
        The browser to run (default: :func:`find_chromium`).
    timeout : float
        Seconds any one page may take to load and typeset (> 0).

    Raises
    ------
    FileNotFoundError
        If no Chromium is installed (``make book`` installs Debian's ``chromium``).
    ValueError
        If ``timeout`` is not positive.
    """

    def __init__(self, executable: str | None = None, timeout: float = 60.0) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        executable = executable or find_chromium()
        if executable is None or shutil.which(executable) is None:
            raise FileNotFoundError(
                f"no Chromium found (tried {', '.join(CHROMIUM_NAMES)}): install Debian's "
                "`chromium` (the Makefile's book target does)"
            )
        self.timeout = timeout
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        def wire() -> None:  # in the child: the pipe is read on fd 3, written on fd 4
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self._process = subprocess.Popen(
            [executable, *_FLAGS, "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the browser and release the pipe."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass

    def _message(self, deadline: float) -> dict[str, Any]:
        """The next message from the browser; ``TimeoutError`` after ``deadline``."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer within {self.timeout:g} s")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise OSError(f"Chromium ended (exit status {self._process.wait()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result; events met on the way are kept."""
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            request["sessionId"] = session
        os.write(self._commands, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise OSError(f"Chromium refused {method}: {message['error'].get('message')}")
                return message.get("result", {})
            self._events.append(message)

    def _wait_for(self, method: str, session: str) -> None:
        """Wait until the page's event ``method`` arrives (or was already kept)."""
        deadline = time.monotonic() + self.timeout
        while not any(
            e.get("method") == method and e.get("sessionId") == session for e in self._events
        ):
            self._events.append(self._message(deadline))

    def visit(self, url: str) -> PageView:
        """Open ``url`` in a fresh tab and return what a reader met there.

        Raises
        ------
        TimeoutError
            If the page does not load and typeset within ``timeout`` seconds.
        """
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        try:
            for domain in ("Runtime", "Log", "Page"):
                self._call(f"{domain}.enable", session)
            self._events.clear()
            self._call("Page.navigate", session, url=url)
            self._wait_for("Page.loadEventFired", session)
            result = self._call(
                "Runtime.evaluate",
                session,
                expression=_SUMMARY_JS,
                awaitPromise=True,
                returnByValue=True,
            )
            if "exceptionDetails" in result:
                raise OSError(f"{url}: the page check failed: {result['exceptionDetails']}")
            summary = json.loads(result["result"]["value"])
            errors = [
                _describe(e) for e in self._events if e.get("sessionId") == session and _is_error(e)
            ]
        finally:
            self._call("Target.closeTarget", targetId=target)
        return PageView(
            url,
            errors,
            summary["equations"],
            summary["unrendered"],
            summary["raw_latex"],
            summary["too_wide"],
        )


def _is_error(event: dict[str, Any]) -> bool:
    """Whether a DevTools event is an error a reader's console would show in red."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        return True
    if method == "Runtime.consoleAPICalled":
        return params.get("type") in ("error", "assert")
    if method == "Log.entryAdded":
        return params.get("entry", {}).get("level") == "error"
    return False


def _describe(event: dict[str, Any]) -> str:
    """One line for an error event."""
    params = event["params"]
    if event["method"] == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        return f"uncaught: {text.splitlines()[0] if text else 'exception'}"
    if event["method"] == "Runtime.consoleAPICalled":
        parts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
        return f"console.{params['type']}: {' '.join(parts)}"
    entry = params["entry"]
    where = f" ({entry['url']})" if entry.get("url") else ""
    return f"{entry.get('source', 'log')}: {entry.get('text', '')}{where}"


def file_url(path: str | Path) -> str:
    """The ``file://`` URL of a local file."""
    return Path(path).resolve().as_uri()
