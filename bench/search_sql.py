#!/usr/bin/env python3
"""bench/search_sql.py DBURL Q [TABLE|all] [LIMIT]: print the SQL the service runs for `q=Q` on
a collection (`assignments`, `networks`, `feedback`, ...) or for `GET /v1/search` (`all`),
written by the rules of `http::list::Search::correct` (the words looked up once, in the
database at DBURL, with psql), `Corrected::matches` and `Corrected::score`, and `search::hits`,
so that pgbench can run the same statements as the service. The lookup is not part of what
pgbench runs; the service runs it once per request. The words of Q are split and lower-cased
the same way; stop words are not removed here, so give queries without them."""
import os
import re
import subprocess
import sys

MAX_CORRECTIONS = 20
MAX_PARTS = 100
TITLE_WORD = 0.30
TITLE_PART = 0.15


def words(q):
    out = []
    for w in re.split(r"[^\w]|_", q.lower()):
        if w and w not in out:
            out.append(w)
    return out


def lit(t):
    return "'" + t.replace("'", "''") + "'"


def look_up(dburl, ws):
    """The parts (words containing each word) and corrections, as `Search::correct` finds them."""
    array = "ARRAY[" + ",".join(lit(w) for w in ws) + "]::text[]"
    keep = "ceil(length(w.word) * 0.7)::int"
    sql = (
        f"WITH w AS (SELECT word, i FROM unnest({array}) WITH ORDINALITY AS w(word, i) "
        f"WHERE length(word) >= 3), "
        f"p AS (SELECT w.i, s.word FROM w CROSS JOIN LATERAL (SELECT s.word FROM search_words s "
        f"WHERE s.word LIKE '%' || w.word || '%' ORDER BY s.word LIMIT {MAX_PARTS + 1}) s) "
        f"SELECT i, word, true, 1::float8 FROM p UNION ALL "
        f"SELECT w.i, c.word, false, 1 - c.distance FROM w CROSS JOIN LATERAL "
        f"(SELECT s.word, w.word <<-> s.word AS distance FROM search_words s "
        f"WHERE w.word <% s.word AND NOT starts_with(s.word, w.word) "
        f"AND (NOT EXISTS (SELECT FROM p WHERE p.i = w.i) OR left(s.word, {keep}) = left(w.word, {keep})) "
        f"ORDER BY 2, s.word LIMIT {MAX_CORRECTIONS}) c WHERE length(w.word) >= 6"
    )
    out = subprocess.run(
        [os.environ.get("PSQL", "psql"), dburl, "-At", "-F", "\t", "-c", "SET pg_trgm.word_similarity_threshold = 0.5",
         "-c", sql],
        check=True, capture_output=True, text=True).stdout
    parts = [[] for _ in ws]
    near = [[] for _ in ws]
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) != 4:
            continue
        i, word, part, closeness = int(fields[0]) - 1, fields[1], fields[2] == "t", float(fields[3])
        (parts if part else near)[i].append((word, closeness))
    parts = [None if len(p) > MAX_PARTS else [w for w, _ in p] for p in parts]
    return parts, near


def matches(ws, parts, near, a=""):
    s, t = (f"{a}.search", f"{a}.search_text") if a else ("search", "search_text")
    any_of = lambda xs: f"{s} @@ to_tsquery('swedish', {lit(' | '.join(xs))})"
    tests = []
    for w, p, n in zip(ws, parts, near):
        any_ = [any_of([w + ":*"])]
        if p is None:
            any_.append(f"{t} LIKE {lit('%' + w + '%')}")
        elif p:
            any_.append(any_of(p))
        if n:
            any_.append(any_of([x for x, _ in n]))
        tests.append("(" + " OR ".join(any_) + ")")
    return " AND ".join(tests)


def score(ws, near, a=""):
    s, ti = (f"{a}.search", f"{a}.search_title") if a else ("search", "search_title")
    any_ = " | ".join(x for w, n in zip(ws, near) for x in [w, w + ":*"] + [c for c, _ in n])
    in_title = ""
    for w, n in zip(ws, near):
        closest = n[0][1] if n else 0.0
        starts = [w + ":*A"] + [c + ":A" for c, k in n if k >= closest - 1e-9]
        in_title += (f" + ({s} @@ to_tsquery('swedish', {lit(' | '.join(starts))}))::int * {TITLE_WORD:.2f}"
                     f" + ({ti} LIKE {lit('%' + w + '%')})::int * {TITLE_PART:.2f}"
                     f" + ((' ' || {ti} || ' ') LIKE {lit('% ' + w + ' %')})::int * {TITLE_PART:.2f}")
    return (f"(ts_rank({s}, to_tsquery('swedish', {lit(any_)}))::float8{in_title}"
            f" + (btrim({ti}) = {lit(' '.join(ws))})::int * {TITLE_PART:.2f})")


# kind, table, join, title, text, link (as `search::HitType::source`)
SOURCES = [
    ("area", "areas", "", "t.name", "t.description", "'/v1/areas/' || t.id"),
    ("network", "networks", "", "t.name", "t.description", "'/v1/networks/' || t.id"),
    ("member", "network_members", "JOIN networks n ON n.id = t.network_id", "t.name",
     "concat_ws(', ', t.title, n.name)", "'/v1/networks/' || t.network_id || '/members/' || t.id"),
    ("assignment", "assignments", "", "t.title", "t.description", "'/v1/assignments/' || t.id"),
    ("progressReport", "progress_reports", "JOIN assignments a ON a.id = t.assignment_id",
     "a.title || ', tertial ' || t.tertial || ' ' || t.year",
     "concat_ws(' ', t.summary, t.deviation_note)",
     "'/v1/assignments/' || t.assignment_id || '/reports/' || t.id"),
    ("feedback", "feedback", "JOIN networks n ON n.id = t.network_id",
     "'Återkoppling ' || t.year || ', ' || n.name",
     "concat_ws(' ', t.comment, samverkan_suggestion_texts(t.suggestions))",
     "'/v1/feedback/' || t.id"),
]


def for_pgbench(sql):
    """pgbench reads `:A` as a variable, also inside a string: the weight `A` of a tsquery term
    (`word:A`) is spelled `'word' || ':' || 'A'` instead, the same string."""
    return sql.replace(":A", "' || ':' || 'A")


def main():
    dburl, q, table = sys.argv[1], sys.argv[2], sys.argv[3]
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    ws = words(q)
    parts, near = look_up(dburl, ws)
    if table == "all":
        hits = " UNION ALL ".join(
            f"SELECT '{k}'::text AS kind, t.id, {score(ws, near, 't')} AS score FROM {tb} t "
            f"WHERE {matches(ws, parts, near, 't')}"
            for k, tb, *_ in SOURCES)
        details = " UNION ALL ".join(
            f"SELECT {ti} AS title, {tx} AS text, {li} AS link FROM {tb} t {jn} "
            f"WHERE p.kind = '{k}' AND t.id = p.id"
            for k, tb, jn, ti, tx, li in SOURCES)
        kinds = ",".join(f"'{k}'" for k, *_ in SOURCES)
        print(for_pgbench(f"WITH h AS MATERIALIZED ({hits}), "
              f"p AS (SELECT kind, id, score FROM h WHERE kind = ANY(ARRAY[{kinds}]) "
              f"ORDER BY score DESC, kind, id LIMIT {limit} OFFSET 0) "
              f"SELECT false AS facet, p.kind, p.id::text AS id, d.title, d.text, p.score, d.link, "
              f"0::bigint AS count FROM p CROSS JOIN LATERAL ({details}) d "
              f"UNION ALL SELECT true, kind, '', '', '', 0, '', count(*) FROM h GROUP BY kind "
              f"ORDER BY facet, score DESC, kind, id;"))
    else:
        # One statement: the page and the count of all matches (`kernel::counted_page`).
        print(for_pgbench(f"SELECT *, count(*) OVER () FROM {table} WHERE {matches(ws, parts, near)} "
                          f"ORDER BY {score(ws, near)} DESC, id LIMIT {limit} OFFSET 0;"))


main()
