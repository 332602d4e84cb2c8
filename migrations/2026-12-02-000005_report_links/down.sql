DROP TABLE report_links;
