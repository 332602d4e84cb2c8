-- bench/search-data.sql: the search benchmark's data, on top of the reference data: 10 000
-- networks, 100 000 assignments and 100 000 feedback comments times the psql variable `scale`
-- (psql -v scale=10 for a million of each; or the counts one by one with -v networks=N
-- -v assignments=N -v feedback=N, as bench/size.sh does), their text drawn from Swedish compound words and
-- phrases like those of the association's documents, so that a search finds tens to thousands
-- of records as it would in real use. Deterministic (setseed).
\if :{?scale}
\else
\set scale 1
\endif
\if :{?networks}
\else
SELECT 10000 * :scale AS networks \gset
\endif
\if :{?assignments}
\else
SELECT 100000 * :scale AS assignments \gset
\endif
\if :{?feedback}
\else
SELECT 100000 * :scale AS feedback \gset
\endif
SELECT setseed(0.14);

CREATE FUNCTION pg_temp.compound() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT (ARRAY[
  'skol', 'social', 'kultur', 'fritids', 'digitaliserings', 'vård', 'omsorgs', 'familjehems',
  'arbetsmarknads', 'ekonomi', 'personal', 'upphandlings', 'miljö', 'bygg', 'kommunikations',
  'folkhälso', 'integrations', 'ungdoms', 'äldreomsorgs', 'funktionshinder', 'elevhälso',
  'gymnasie', 'förskole', 'biblioteks', 'energi', 'klimat', 'trafik', 'turism', 'näringslivs',
  'landsbygds', 'krisberedskaps', 'säkerhets', 'informations', 'arkiv', 'juridik', 'kvalitets',
  'forsknings', 'innovations', 'demokrati', 'jämställdhets'])[1 + floor(random() * 40)::int]
      || (ARRAY[
  'chefsnätverket', 'nätverket', 'gruppen', 'rådet', 'forumet', 'samverkan', 'utveckling',
  'strategi', 'projektet', 'satsningen', 'programmet', 'planen', 'stödet', 'uppföljningen'])[1 + floor(random() * 14)::int]
$$;
CREATE FUNCTION pg_temp.phrase() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT (ARRAY[
  'Arbetet pågår enligt plan och återrapporteras varje tertial till styrelsen.',
  'Satsningen stärker kommunernas kompetensförsörjning och samverkan i länet.',
  'Nätverket ger ett viktigt stöd för likvärdig kvalitet i länets kommuner.',
  'Det digitala samarbetet går framåt men i olika takt.',
  'Vi upplever att förbundets verksamheter ibland arbetar var för sig.',
  'Svårt att rekrytera; satsningarna är viktiga men räcker inte.',
  'Uppdraget avslutas under året; slutrapport och överlämning pågår.',
  'Gemensam upphandling av e-tjänster sparar tid och pengar.',
  'Hållbart arbetsliv har minskat sjukfrånvaron i flera verksamheter.',
  'Påverka statens finansiering av vuxenutbildning och yrkesutbildning.',
  'Tydligare återrapportering till nämnderna efterfrågas av politiken.',
  'Resurscentrum mot våld är en viktig gemensam plattform.'])[1 + floor(random() * 12)::int]
$$;

INSERT INTO networks (id, name, kind, area_id, description, municipality_ids, coordinator, status)
SELECT gen_random_uuid(), initcap(pg_temp.compound()) || ' ' || g,
       (ARRAY['management', 'subject_area', 'staff', 'political'])[1 + g % 4],
       (SELECT id FROM areas ORDER BY id OFFSET g % 5 LIMIT 1),
       pg_temp.phrase() || ' Fokus på ' || pg_temp.compound() || '.',
       ARRAY['2281'], 'Samordnare ' || g, 'active'
FROM generate_series(1, :networks) g;

INSERT INTO assignments (id, title, description, municipality_ids, area_id, challenge, funding_type,
                         funder, budget_sek, partners, start_date, end_date, responsible, status)
SELECT gen_random_uuid(),
       (ARRAY['Utveckling av', 'Samordning av', 'Kunskapsutveckling inom', 'Uppföljning av',
              'Gemensam'])[1 + g % 5] || ' ' || pg_temp.compound() || ' ' || g,
       pg_temp.phrase() || ' ' || pg_temp.phrase() || ' Inom ' || pg_temp.compound() || '.',
       ARRAY['2281', '2262'], (SELECT id FROM areas ORDER BY id OFFSET g % 5 LIMIT 1),
       (ARRAY['core', 'focus', 'internal'])[1 + g % 3], 'external',
       (ARRAY['ESF+', 'Vinnova', 'Socialstyrelsen', 'Tillväxtverket'])[1 + g % 4],
       100000 + g, ARRAY['MIUN', 'Region Västernorrland'], '2022-01-01', '2024-06-30',
       'Handläggare ' || g, 'ongoing'
FROM generate_series(1, :assignments) g;

INSERT INTO feedback (id, year, goal, network_id, municipality_id, rating, comment, suggestions)
SELECT gen_random_uuid(), 2022, (ARRAY['core', 'focus', 'internal'])[1 + g % 3], n.id,
       (ARRAY['2260', '2262', '2280', '2281', '2282', '2283', '2284'])[1 + g % 7], 1 + g % 5,
       pg_temp.phrase() || ' Vi vill se mer ' || pg_temp.compound() || '.',
       jsonb_build_array(jsonb_build_object('kind', 'development', 'text', 'Gemensam ' || pg_temp.compound()))
FROM generate_series(1, :feedback) g
JOIN (SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS i FROM networks) n
  ON n.i = (g * 7) % (SELECT count(*) FROM networks);

-- A vacuum as autovacuum would run within a minute or two of such a load: it merges the GIN
-- indexes' pending lists, which every search would otherwise read in full, and sets the
-- visibility map. The benchmark measures that steady state.
VACUUM ANALYZE networks; VACUUM ANALYZE assignments; VACUUM ANALYZE feedback;

-- The load bypassed the triggers that keep the words for typo correction.
SELECT samverkan_refresh_search_words();
ANALYZE search_words;
