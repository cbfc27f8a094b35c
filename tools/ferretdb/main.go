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
	"net"
	"net/http"
	_ "net/http/pprof" // served only when -pprof names an address
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
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
	pprofAddr := flag.String("pprof", "", "loopback address to serve Go's profiler on (/debug/pprof/), for profiling chatd's database; empty: off")
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
	// The file is kept in a package variable: an *os.File nothing refers to any more is closed by
	// its finalizer when the garbage collector runs, and closing it releases the flock.
	dataDirLock, err = os.OpenFile(filepath.Join(abs, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		fail(err.Error())
	}
	if err := syscall.Flock(int(dataDirLock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fail("data directory " + abs + " is in use by another embedded database process")
	}

	if *pprofAddr != "" {
		servePprof(*pprofAddr)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fail("-log-level: " + err.Error())
	}
	logger := slog.New(newLazyHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	// The SQLite handler wants a directory URI ending with a slash. FerretDB's own connections
	// never checkpoint the WAL (see maintainDatabases); it keeps its other defaults (WAL, and
	// synchronous=FULL: a commit is on disk before the insert is answered).
	sqliteURL := (&url.URL{Scheme: "file", Path: strings.TrimSuffix(abs, "/") + "/", RawQuery: "_pragma=wal_autocheckpoint(0)"}).String()

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
			// Nobody is left to wait for a graceful stop: never outlive the supervisor by more
			// than a few seconds (every SQLite commit is atomic, so exiting loses nothing).
			time.AfterFunc(5*time.Second, func() { os.Exit(1) })
		}()
	}

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	go maintainDatabases(ctx, abs, logger)

	// MongoDBURI blocks until the listener is bound, so the announced address is the real one
	// even when port 0 was asked for. The supervisor reads this single line from stdout.
	announcement, _ := json.Marshal(map[string]any{"uri": f.MongoDBURI(), "pid": os.Getpid()})
	fmt.Println(string(announcement))

	if err := <-done; err != nil {
		fail(err.Error())
	}
	runtime.KeepAlive(dataDirLock)
}

// servePprof serves net/http/pprof's handlers on a loopback address: profiles show queries and
// documents, so they are never offered beyond this machine.
func servePprof(addr string) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		fail("-pprof: " + err.Error())
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fail("-pprof: " + addr + " is not a loopback address")
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fail("-pprof: " + err.Error())
	}
	go func() { _ = http.Serve(listener, http.DefaultServeMux) }()
}

// dataDirLock holds the flock on the data directory for the whole life of the process.
var dataDirLock *os.File

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "chatd-ferretdb: "+msg)
	os.Exit(1)
}

// idIndexSuffix names the index indexIDLookups adds to each collection's table.
const idIndexSuffix = "_chatd_id"

// maintainDatabases looks after every database file in dir once a second, on its own connection:
// it adds the `_id` lookup index (ensureIDIndexes) and checkpoints the write-ahead log.
//
// SQLite checkpoints by default in the commit that takes the log past 1000 pages: that commit
// also copies 4 MB into the database file and syncs it, tens of milliseconds during which every
// message waiting for it waits too (with one commit per few messages, that is every few hundred
// commits: a p99). FerretDB's connections are opened with wal_autocheckpoint(0) and the
// checkpoint happens here instead, PASSIVE, beside the writers: commits only append to the log.
// Durability is the same: a commit is synced to the log before FerretDB answers.
func maintainDatabases(ctx context.Context, dir string, logger *slog.Logger) {
	handles := map[string]*sql.DB{}
	defer func() {
		for _, db := range handles {
			_ = db.Close()
		}
	}()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		for _, file := range files {
			db := handles[file]
			if db == nil {
				uri := (&url.URL{Scheme: "file", Path: file, RawQuery: "_pragma=busy_timeout(10000)"}).String()
				opened, err := sql.Open("sqlite", uri)
				if err != nil {
					logger.Warn("cannot open database file to maintain it", "file", file, "error", err)
					continue
				}
				opened.SetMaxOpenConns(1)
				handles[file] = opened
				db = opened
			}
			if err := ensureIDIndexes(ctx, db); err != nil && ctx.Err() == nil {
				logger.Warn("cannot index _id lookups", "file", file, "error", err)
			}
			if _, _, err := checkpointWAL(ctx, db); err != nil && ctx.Err() == nil {
				logger.Warn("cannot checkpoint the write-ahead log", "file", file, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// checkpointWAL copies what the write-ahead log holds into the database file without waiting for
// readers or writers (they go on meanwhile); the next writer then starts the log over.
// It returns the log's size and how much of it is in the database file now, in pages.
func checkpointWAL(ctx context.Context, db *sql.DB) (logFrames, checkpointed int, err error) {
	var busy int
	err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &checkpointed)
	return logFrames, checkpointed, err
}

// ensureIDIndexes adds the `_id` lookup index to every collection table of one database that lacks it.
//
// FerretDB 1.24 looks a document up by `_id` with `WHERE _ferretdb_sjson->'$._id' = ?`, but
// indexes `_id` as `_ferretdb_sjson->"_id"`: SQLite matches index expressions as written, so
// every findOne, update and delete by `_id` read the table row by row up to the document (all of
// it for updates and deletes): 300 ms for a late document among 100 000 messages. An index on the
// expression the queries use makes those lookups logarithmic. FerretDB does not know of it (it
// is not listed, backed up or dropped by name) and SQLite drops it with its table. New databases
// and collections get theirs within a second.
func ensureIDIndexes(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM _ferretdb_collections c
		WHERE EXISTS (SELECT 1 FROM sqlite_master t WHERE t.type = 'table' AND t.name = c.table_name)
		AND NOT EXISTS (SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.name = c.table_name || ?)`, idIndexSuffix)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil // FerretDB has not set this database up yet
		}
		return err
	}
	var tables []string
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			_ = rows.Close()
			return err
		}
		tables = append(tables, table)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, table := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+idIndexSuffix, table)
		if _, err := db.ExecContext(ctx, q); err != nil && !strings.Contains(err.Error(), "no such table") {
			return err
		}
	}
	return nil
}
