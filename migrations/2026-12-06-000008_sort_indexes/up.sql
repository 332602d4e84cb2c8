-- Every sort key of the large collections in an index of its own (then `id`, in the same
-- direction: see `keyset_indexes`), so that a page in any documented order reads its rows from
-- an index instead of sorting the table. A test plans every filter and sort
-- (`every_list_filter_and_sort_of_a_large_collection_reads_an_index`).
CREATE INDEX feedback_updated ON feedback (updated_at, id);
CREATE INDEX feedback_rating ON feedback (rating, id);
-- NULLs last in both directions: one index per direction.
CREATE INDEX assignments_start ON assignments (start_date, id);
CREATE INDEX assignments_start_desc ON assignments (start_date DESC NULLS LAST, id DESC);
CREATE INDEX assignments_end ON assignments (end_date, id);
CREATE INDEX assignments_end_desc ON assignments (end_date DESC NULLS LAST, id DESC);
CREATE INDEX assignments_budget ON assignments (budget_sek, id);
CREATE INDEX assignments_created ON assignments (created_at, id);
CREATE INDEX assignments_updated ON assignments (updated_at, id);
