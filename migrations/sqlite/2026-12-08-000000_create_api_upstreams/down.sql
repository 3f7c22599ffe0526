DROP TABLE api_upstreams;
