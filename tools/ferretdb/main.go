// Command chatd-ferretdb serves the MongoDB wire protocol from SQLite files so that chatd runs
// without a MongoDB server. chatd supervises it; it is not meant to be started by hand.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to serve the MongoDB wire protocol on (port 0 picks a free one)")
	dataDir := flag.String("data-dir", "", "directory holding the SQLite database files")
	logLevel := flag.String("log-level", "error", "log level: debug, info, warn or error")
	exitOnStdinEOF := flag.Bool("exit-on-stdin-eof", false, "exit when standard input closes (the supervisor died)")
	flag.Parse()

	if *dataDir == "" {
		fail("-data-dir is required")
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		fail(err.Error())
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		fail(err.Error())
	}

	// Two servers writing the same SQLite files would corrupt them; the lock dies with the process.
	lock, err := os.OpenFile(filepath.Join(abs, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		fail(err.Error())
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fail("data directory " + abs + " is in use by another embedded database process")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fail("-log-level: " + err.Error())
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// The SQLite handler wants a directory URI ending with a slash.
	sqliteURL := (&url.URL{Scheme: "file", Path: strings.TrimSuffix(abs, "/") + "/"}).String()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		fail(err.Error())
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if *exitOnStdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	go keepIDIndexes(ctx, abs, logger)

	// MongoDBURI blocks until the listener is bound, so the announced address is the real one
	// even when port 0 was asked for. The supervisor reads this single line from stdout.
	announcement, _ := json.Marshal(map[string]any{"uri": f.MongoDBURI(), "pid": os.Getpid()})
	fmt.Println(string(announcement))

	if err := <-done; err != nil {
		fail(err.Error())
	}
}

// FerretDB 1.24's SQLite backend looks documents up by _id (find by _id, and every update and
// delete, which rewrite documents one by one by _id) with the expression _ferretdb_sjson->'$._id',
// but indexes _id as _ferretdb_sjson->"_id". SQLite matches index expressions by their text, so
// none of those statements uses an index: each one parses every document of the collection. On
// a users collection of 10 000 that is tens of milliseconds of CPU per login or presence change.
// keepIDIndexes gives every collection table an index on the expression the statements use.
func keepIDIndexes(ctx context.Context, dir string, logger *slog.Logger) {
	ticker := time.NewTicker(2 * time.Second)
	defer ticker.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		for _, file := range files {
			if err := ensureIDIndexes(ctx, file); err != nil && ctx.Err() == nil {
				logger.Debug("could not add _id path indexes", "file", file, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// ensureIDIndexes adds the _id path index to the collection tables of one database file that lack
// it. The file is opened afresh each time: FerretDB deletes and recreates a dropped database's file.
func ensureIDIndexes(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: file, RawQuery: "_pragma=busy_timeout(10000)&mode=rw"}).String())
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM _ferretdb_collections c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE m.type = 'index' AND m.name = '_chatd_id_' || c.table_name)`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, table)
	}
	rows.Close()
	for _, table := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, "_chatd_id_"+table, table)
		// A collection dropped meanwhile takes its table with it; the next round no longer sees it.
		if _, err := db.ExecContext(ctx, q); err != nil && !strings.Contains(err.Error(), "no such table") {
			return err
		}
	}
	return nil
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "chatd-ferretdb: "+msg)
	os.Exit(1)
}
