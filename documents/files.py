"""Text files and folders of them; every problem is one `InputError` line naming the fix."""

from __future__ import annotations

from pathlib import Path

from longcepo.nodes.errors import InputError

TEXT_SUFFIXES = (".txt", ".md")


def read_text(path: Path) -> str:
    """The UTF-8 text of one file, refusing binary, undecodable and empty files."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if b"\x00" in data[:8192]:
        raise InputError(f"{path} looks binary; pass .txt or .md text files")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 (byte {exc.start}); convert it, e.g. with iconv"
        ) from None
    if not text.strip():
        raise InputError(f"{path} is empty; pass a file with the document's text")
    return text


def read_documents(paths: list[str]) -> list[dict[str, str]]:
    """Documents from files and directories (their .txt and .md files, recursively)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise InputError(f"{path} holds no .txt or .md files")
            files.extend(found)
        elif path.exists():
            if path.suffix.lower() not in TEXT_SUFFIXES:
                raise InputError(f"{path}: only .txt and .md files are read; convert it to text")
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return [{"id": str(p), "text": read_text(p)} for p in files]
