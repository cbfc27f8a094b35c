package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// A database file laid out as FerretDB 1.24 lays it out: the collections table and one table per
// collection with FerretDB's own _id index, which its _id statements do not use.
func ferretLikeFile(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "chatd.sqlite")
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE "_ferretdb_collections" (name TEXT NOT NULL UNIQUE, table_name TEXT NOT NULL UNIQUE, settings TEXT NOT NULL)`,
		`CREATE TABLE "users_5e7cc513" (_ferretdb_sjson TEXT NOT NULL) STRICT`,
		`CREATE UNIQUE INDEX "users_5e7cc513__id_" ON "users_5e7cc513" (_ferretdb_sjson->"_id")`,
		`INSERT INTO "_ferretdb_collections" VALUES ('users', 'users_5e7cc513', '{}'), ('gone', 'gone_0badc0de', '{}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	return file
}

// plan asks a fresh connection, as FerretDB's statements see the schema once they run.
func plan(t *testing.T, file string, q string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("EXPLAIN QUERY PLAN " + q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	return strings.Join(out, "; ")
}

func TestIDStatementsUseAnIndexAfterEnsureIDIndexes(t *testing.T) {
	file := ferretLikeFile(t)
	lookup := `SELECT _ferretdb_sjson FROM "users_5e7cc513" WHERE _ferretdb_sjson->'$._id' = 'x'`
	update := `UPDATE "users_5e7cc513" SET _ferretdb_sjson = '{}' WHERE _ferretdb_sjson->'$._id' = 'x'`
	if p := plan(t, file, lookup); !strings.Contains(p, "SCAN") {
		t.Fatalf("expected FerretDB's own index to be unused by its _id lookup, plan: %s", p)
	}
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A collection listed but already dropped is skipped, not an error.
	if err := ensureIDIndexes(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{lookup, update} {
		if p := plan(t, file, q); !strings.Contains(p, "USING INDEX users_5e7cc513_chatd_id") {
			t.Fatalf("plan of %s: %s", q, p)
		}
	}
	// Idempotent: a second pass finds nothing to do.
	if err := ensureIDIndexes(context.Background(), db); err != nil {
		t.Fatal(err)
	}
}

// With FerretDB's connections never checkpointing, the log holds every commit until
// checkpointWAL, from another connection, copies it all into the database file.
func TestCheckpointWALCopiesTheLogWhileWritersNeverDo(t *testing.T) {
	file := filepath.Join(t.TempDir(), "chatd.sqlite")
	writer, err := sql.Open("sqlite", "file:"+file+"?_pragma=journal_mode(wal)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if _, err := writer.Exec(`CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3000; i++ {
		if _, err := writer.Exec(`INSERT INTO t VALUES (?)`, strings.Repeat("x", 500)); err != nil {
			t.Fatal(err)
		}
	}
	maintainer, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer maintainer.Close()
	logFrames, checkpointed, err := checkpointWAL(context.Background(), maintainer)
	if err != nil {
		t.Fatal(err)
	}
	// 3000 commits without a checkpoint: far more than the 1000 pages at which SQLite would have checkpointed.
	if logFrames < 1000 || checkpointed != logFrames {
		t.Fatalf("log of %d pages, %d checkpointed; want all of more than 1000", logFrames, checkpointed)
	}
	var count int
	if err := maintainer.QueryRow(`SELECT count(*) FROM t`).Scan(&count); err != nil || count != 3000 {
		t.Fatalf("read %d rows (%v) after the checkpoint, want 3000", count, err)
	}
}
