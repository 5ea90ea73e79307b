-- Autovacuum, and ANALYZE or REINDEX run by anyone whose search_path does not hold Docent's
-- schema, evaluate the index expression docent_tag_lexemes (migration 00008) with a search
-- path of pg_catalog only: its calls of docent_tag_key and docent_lexeme_key then fail
-- ("function docent_tag_key(text) does not exist"), so automatic analyze of chunks failed
-- every time, the table kept no statistics and the planner guessed (the neighbours' query
-- took 2.7 ms instead of 0.3). The function now carries the search path of the schema it
-- was created in.

-- +goose Up
ALTER FUNCTION docent_tag_lexemes(text[], tsvector) SET search_path FROM CURRENT;

-- +goose Down
ALTER FUNCTION docent_tag_lexemes(text[], tsvector) RESET search_path;
