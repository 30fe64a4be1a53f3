"""Words of a phone command line, split as a POSIX sh does (quotes, backslashes, `$$`, && || ;)."""

from __future__ import annotations


class ShellSyntaxError(Exception):
    pass


def split(line: str, pid: int) -> list[str]:
    """Words and operators of `line`; unquoted `$$` becomes pid."""
    words: list[str] = []
    word: str | None = None
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in " \t\n":
            if word is not None:
                words.append(word)
                word = None
            i += 1
        elif c == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated '")
            word = (word or "") + line[i + 1 : end]
            i = end + 1
        elif c == '"':
            i += 1
            buf = ""
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n and line[i + 1] in '"\\$`':
                    buf += line[i + 1]
                    i += 2
                elif line.startswith("$$", i):
                    buf += str(pid)
                    i += 2
                else:
                    buf += line[i]
                    i += 1
            if i >= n:
                raise ShellSyntaxError('unterminated "')
            word = (word or "") + buf
            i += 1
        elif c == "\\" and i + 1 < n:
            word = (word or "") + line[i + 1]
            i += 2
        elif line.startswith("$$", i):
            word = (word or "") + str(pid)
            i += 2
        elif line.startswith(("&&", "||"), i) or c == ";":
            if word is not None:
                words.append(word)
                word = None
            op = line[i : i + 2] if c != ";" else ";"
            words.append("\x00" + op)  # operators are marked so a quoted '&&' stays a word
            i += len(op)
        elif c in "|&<`$(){}":
            raise ShellSyntaxError(f"this phone's test shell does not do {c!r}")
        else:
            word = (word or "") + c
            i += 1
    if word is not None:
        words.append(word)
    return words
