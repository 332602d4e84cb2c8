#!/usr/bin/env python3
"""bench/statements.py LOG OFFSET: print, as a pgbench script, the statements the service sent
to PostgreSQL, as PostgreSQL logged them (log_statement = 'all', with the application name in
log_line_prefix: see capture_sql in bench/lib.sh), from byte OFFSET of the server log LOG on.

Each statement is written with its bind parameters put in as the literals PostgreSQL logged
them as, so that pgbench runs exactly what the service ran. Statements of other applications
(psql) and a connection's set-up (SET) are left out."""
import re
import sys

PREFIX = re.compile(r"^\S+ \S+ \S+ \[\d+\] (?P<app>[^:\s]*): (?P<level>[A-Z]+):  (?P<text>.*)$")
STATEMENT = re.compile(r"^(?:execute [^:]+|statement): (?P<sql>.*)$", re.S)
PARAMETER = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def entries(text):
    """The log's entries (application, level, text with its continuation lines)."""
    entry = None
    for line in text.splitlines():
        m = PREFIX.match(line)
        if m:
            if entry:
                yield entry
            entry = [m["app"], m["level"], m["text"]]
        elif entry is not None:
            entry[2] += "\n" + line.lstrip("\t")
    if entry:
        yield entry


def for_pgbench(sql):
    """pgbench reads `:A` as a variable, also inside a string: the weight `A` of a tsquery term
    (`word:A`) is spelled `'word' || ':' || 'A'` instead, the same string."""
    return sql.replace(":A", "' || ':' || 'A")


def main():
    log, offset = sys.argv[1], int(sys.argv[2])
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    statements = []
    for app, level, body in entries(text):
        if app != "samverkan":
            continue
        if level == "LOG":
            m = STATEMENT.match(body)
            if m and not m["sql"].lstrip().upper().startswith("SET "):
                statements.append(m["sql"])
        elif level == "DETAIL" and body.startswith("parameters: ") and statements:
            values = {int(n): v for n, v in PARAMETER.findall(body)}
            statements[-1] = re.sub(
                r"\$(\d+)\b", lambda m: values.get(int(m[1]), m[0]), statements[-1])
    if not statements:
        sys.exit("no statement of the service was logged")
    for sql in statements:
        print(for_pgbench(sql.rstrip().rstrip(";")) + ";")


main()
