DROP INDEX areas_search_name, networks_search_name, network_members_search_name,
    assignments_search_name, progress_reports_search_name, feedback_search_name;
