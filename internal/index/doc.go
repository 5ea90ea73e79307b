// Package index is Docent's store: the whole PostgreSQL + pgvector database and the only
// place with SQL. Despite its name (kept: it is what the code has always imported) it holds
// more than the search index: the documents and their chunks, the chunkings and index
// generations with their embeddings, the ingest and reindex runs with their locks, the API
// keys, and the answer traces; and the schema's migrations.
//
// Where to find what, by file:
//
//	db.go          Open, DBTX, InTx, and the driver errors mapped to ours (ErrNotFound, IsDeadlock, ...)
//	migrate.go     the embedded migrations (migrations/*.sql), Migrate and CheckSchema
//	document.go    sources, documents and their chunks: what an ingest run reads and writes
//	generation.go  chunkings and index generations: create, activate, the active one
//	reindex.go     what a reindex needs: missing vectors, the reindex lock, gate results, sources' folders
//	run.go         ingest and reindex runs (status, counts, failures) and the per-source lock
//	search.go      retrieval's queries: BM25, nearest vectors, evidence, neighbours
//	apikey.go      API keys: create, list, revoke, look up by hash (`server keys`, internal/auth)
//	trace.go       answer traces: insert, read (as their reader may), delete old ones
//
// Everything here takes a DBTX, which both *pgxpool.Pool and pgx.Tx satisfy, so a caller
// decides the transaction boundaries (see InTx). The schema keeps its own invariants with
// triggers (migrations/00001_schema.sql): chunk and embedding permission tags follow their
// document, and the BM25 statistics follow the chunks.
package index
