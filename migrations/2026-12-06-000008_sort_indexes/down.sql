DROP INDEX feedback_updated, feedback_rating, assignments_start, assignments_start_desc,
    assignments_end, assignments_end_desc, assignments_budget, assignments_created, assignments_updated;
