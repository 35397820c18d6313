"""What ``authgate check`` found: ``OK``, ``INFO``, ``WARN`` and ``FAIL`` lines, each printed as found."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    """The findings, each printed as it is found: a probe that fails later (or crashes) cannot hide
    the lines before it."""

    lines: list[str] = field(default_factory=list)
    failed: bool = False
    prefix: str = ""  # names the app a line is about ("app wiki.example.com: ")
    callback: str = ""  # the redirect URI to probe, when known (an app's own host, or domain mode's)
    echo: bool = False  # print each line as it is added (the command does; tests read ``lines``)

    def _add(self, line: str) -> None:
        self.lines.append(line)
        if self.echo:
            print(line, flush=True)

    def ok(self, text: str) -> None:
        self._add(f"OK   {self.prefix}{text}")

    def warn(self, text: str, fix: str = "") -> None:
        self._add(f"WARN {self.prefix}{text}" + (f"\n     fix: {fix}" if fix else ""))

    def info(self, text: str) -> None:
        self._add(f"INFO {self.prefix}{text}")

    def fail(self, text: str, fix: str) -> None:
        self.failed = True
        self._add(f"FAIL {self.prefix}{text}\n     fix: {fix}")

    def sub(self, prefix: str, callback: str) -> Report:
        """A report for one app's lines, printed and collected with this one's."""
        return Report(self.lines, prefix=prefix, callback=callback, echo=self.echo)
