#!/usr/bin/env python3
"""bench/search_sql.py Q [TABLE|all] [LIMIT]: print the SQL the service runs for `q=Q` on a
collection (`assignments`, `networks`, `feedback`, ...) or for `GET /v1/search` (`all`), written
by the rules of `http::list::Search` (matches and score) and `search::hits`, so that pgbench can
run the same statements as the service. The words of Q are split and lower-cased the same way;
stop words are not removed here, so give queries without them."""
import re
import sys

def words(q):
    out = []
    for w in re.split(r"[^\w]|_", q.lower()):
        if w and w not in out:
            out.append(w)
    return out

def lit(t):
    return "'" + t.replace("'", "''") + "'"

def matches(ws, a=""):
    s, t = (f"{a}.search", f"{a}.search_text") if a else ("search", "search_text")
    tests = []
    for w in ws:
        any_ = [f"{s} @@ to_tsquery('swedish', {lit(w + ':*')})"]
        if len(w) >= 3:
            any_.append(f"{t} LIKE {lit('%' + w + '%')}")
        if len(w) >= 6:
            any_.append(f"{s} @@ (SELECT to_tsquery('swedish', string_agg(c.word, ' | ')) FROM "
                        f"(SELECT word FROM search_words WHERE {lit(w)} <% word ORDER BY "
                        f"{lit(w)} <<-> word, word LIMIT 20) c)")
        tests.append("(" + " OR ".join(any_) + ")")
    return " AND ".join(tests)

def score(ws, a=""):
    s, ti = (f"{a}.search", f"{a}.search_title") if a else ("search", "search_title")
    any_ = " | ".join(x for w in ws for x in (w, w + ":*"))
    j = lit(" ".join(ws))
    return f"(ts_rank({s}, to_tsquery('swedish', {lit(any_)}))::float8 + word_similarity({j}, {ti}))"

SOURCES = [
    ("area", "areas t", "t.name", "t.description", "'/v1/areas/' || t.id"),
    ("network", "networks t", "t.name", "t.description", "'/v1/networks/' || t.id"),
    ("member", "network_members t JOIN networks n ON n.id = t.network_id", "t.name",
     "concat_ws(', ', t.title, n.name)", "'/v1/networks/' || t.network_id || '/members/' || t.id"),
    ("assignment", "assignments t", "t.title", "t.description", "'/v1/assignments/' || t.id"),
    ("progressReport", "progress_reports t JOIN assignments a ON a.id = t.assignment_id",
     "a.title || ', tertial ' || t.tertial || ' ' || t.year",
     "concat_ws(' ', t.summary, t.deviation_note)",
     "'/v1/assignments/' || t.assignment_id || '/reports/' || t.id"),
    ("feedback", "feedback t JOIN networks n ON n.id = t.network_id",
     "'Återkoppling ' || t.year || ', ' || n.name",
     "concat_ws(' ', t.comment, samverkan_suggestion_texts(t.suggestions))",
     "'/v1/feedback/' || t.id"),
]

def main():
    q, table = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    ws = words(q)
    if table == "all":
        hits = " UNION ALL ".join(
            f"SELECT '{k}'::text AS kind, t.id::text AS id, {ti} AS title, {tx} AS text, "
            f"{score(ws, 't')} AS score, {li} AS link FROM {fr} WHERE {matches(ws, 't')}"
            for k, fr, ti, tx, li in SOURCES)
        kinds = ",".join(f"'{k}'" for k, *_ in SOURCES)
        print(f"WITH h AS MATERIALIZED ({hits}) "
              f"(SELECT false AS facet, kind, id, title, text, score, link, 0::bigint AS count FROM h "
              f"WHERE kind = ANY(ARRAY[{kinds}]) ORDER BY score DESC, kind, id LIMIT {limit} OFFSET 0) "
              f"UNION ALL SELECT true, kind, '', '', '', 0, '', count(*) FROM h GROUP BY kind "
              f"ORDER BY facet, score DESC, kind, id;")
    else:
        print(f"SELECT count(*) FROM {table} WHERE {matches(ws)};")
        print(f"SELECT * FROM {table} WHERE {matches(ws)} ORDER BY {score(ws)} DESC, id LIMIT {limit} OFFSET 0;")

main()
