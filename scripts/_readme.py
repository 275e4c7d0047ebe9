"""Splice a regenerated section into README.md (shared by the ``scripts/readme_*.py`` generators)."""

from pathlib import Path


def replace_section(heading: str, body: str, before: str, keep_heading_line: bool = True, path="README.md") -> None:
    """Replace the section that starts with ``heading`` (up to the next ``### ``) by ``body``.

    With ``keep_heading_line`` the heading line as it stands (its command in backticks) stays and only the
    text below it is replaced; otherwise ``body`` holds the heading too. A README without the section gets
    it just before the section that starts with ``before``.
    """
    p = Path(path)
    s = p.read_text()
    if heading in s:
        start = s.index(heading)
        body_start = s.index("\n\n", start) + 2 if keep_heading_line else start
        end = s.index("\n### ", body_start) + 1  # the next section, whichever it is
        s = s[:body_start] + body + "\n" + s[end:]
    else:
        at = s.index(before)
        s = s[:at] + (f"{heading}\n\n" if keep_heading_line else "") + body + "\n" + s[at:]
    p.write_text(s)
    print(body)
