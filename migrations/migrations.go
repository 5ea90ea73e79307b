// Package migrations holds Docent's numbered SQL migrations, embedded into the binaries.
//
// Files are named NNNNN_name.sql and use goose annotations (-- +goose Up / Down, and
// StatementBegin/End around function bodies). Each runs in its own transaction. Never edit a
// migration that has been released: add a new one.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
