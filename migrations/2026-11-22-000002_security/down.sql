DROP TABLE rate_limit_windows;
DROP TABLE audit_log;
DROP TABLE api_clients;
