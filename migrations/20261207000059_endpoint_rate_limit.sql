-- Per-endpoint delivery rate (issue 16: each endpoint with its own "circuit and rate"): at most
-- this many delivery attempts per second to the endpoint, across all workers (the Redis sliding
-- window the Instagram sends use); null = no limit beyond the in-flight cap.
alter table webhook_endpoints add column rate_limit int
    constraint webhook_endpoints_rate_limit_check check (rate_limit between 1 and 10000);
