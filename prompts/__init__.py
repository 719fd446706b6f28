"""Prompt templates, stored as versioned package-data files (`<name>_v<N>.txt`).

Use:
    import prompts
    tpl = prompts.load("explain")              # newest version; prompts.load("explain", 1)
    tpl.metadata                               # {"name": "explain", "version": 1, "file": ...}
    msgs = tpl.invoke({"fact_sheet": ..., "product_data": ...}).to_messages()
    prompts.quote_untrusted('say "hi" {now}')  # -> "say 'hi' now", safe inside the data block

File format: optional `#` comment lines, then sections `[system]`, `[human]`, `[ai]` whose text
is a LangChain f-string template (literal braces doubled: `{{fact_id}}`), and
`[messages NAME]` for an optional MessagesPlaceholder (e.g. the retry turn).
Changing a prompt means adding a new version file, so old explanations stay reproducible.
"""
from __future__ import annotations

import re
import unicodedata
from importlib import resources

from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

# Untrusted product text (titles, descriptions, reviews) appears in prompts only between
# these markers; quote_untrusted removes anything that could close the block early.
DATA_START = "<<<PRODUCT_DATA"
DATA_END = "PRODUCT_DATA>>>"

PromptTemplate = ChatPromptTemplate

_FILE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)_v(?P<version>\d+)\.txt$")
_SECTION = re.compile(r"^\[(system|human|ai|messages\s+[a-z_][a-z0-9_]*)\]\s*$")


def versions(name: str) -> list[int]:
    """Versions available for a template name, ascending."""
    out = []
    for entry in resources.files(__name__).iterdir():
        m = _FILE.match(entry.name)
        if m and m.group("name") == name:
            out.append(int(m.group("version")))
    return sorted(out)


def load(name: str, version: int | None = None) -> ChatPromptTemplate:
    """Load template `name` (newest version unless `version` is given)."""
    have = versions(name)
    if not have:
        raise FileNotFoundError(f"no prompt template named {name!r} in package 'prompts'")
    if version is None:
        version = have[-1]
    if version not in have:
        raise FileNotFoundError(f"prompt {name!r} has versions {have}, not {version!r}")
    fname = f"{name}_v{version}.txt"
    text = resources.files(__name__).joinpath(fname).read_text(encoding="utf-8")
    return ChatPromptTemplate(
        parse(text, fname), metadata={"name": name, "version": version, "file": fname}
    )


def parse(text: str, source: str = "<string>") -> list:
    """Split a template file into LangChain message specs."""
    messages: list = []
    role: str | None = None
    buf: list[str] = []

    def flush() -> None:
        if role is None:
            return
        body = "\n".join(buf).strip("\n")
        if role.startswith("messages"):
            if body.strip():
                raise ValueError(f"{source}: [{role}] must be empty")
            messages.append(MessagesPlaceholder(role.split()[1], optional=True))
        else:
            if not body.strip():
                raise ValueError(f"{source}: empty [{role}] section")
            messages.append((role, body))

    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _SECTION.match(line)
        if m:
            flush()
            role, buf = m.group(1), []
        elif role is None:
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"{source}:{lineno}: text before the first [section]")
        else:
            buf.append(line)
    flush()
    if not messages:
        raise ValueError(f"{source}: no [system]/[human] sections")
    return messages


def quote_untrusted(text: object, max_chars: int = 400) -> str:
    """Make product text safe to place inside the quoted data block.

    Drops braces (no template or placeholder can be smuggled in), angle brackets and the
    block markers (the block cannot be closed early), control characters and double quotes
    (each field is wrapped in double quotes); collapses whitespace; truncates.
    """
    s = unicodedata.normalize("NFKC", "" if text is None else str(text))
    s = s.replace(DATA_START, " ").replace(DATA_END, " ")
    s = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in s)
    s = re.sub(r"[{}<>`\[\]]", " ", s)
    s = s.replace('"', "'")
    s = re.sub(r"\s+", " ", s).strip()
    if len(s) > max_chars:
        s = s[: max_chars - 1].rstrip() + "…"
    return s
