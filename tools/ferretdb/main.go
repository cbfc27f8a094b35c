// Command chatd-ferretdb serves the MongoDB wire protocol from SQLite files so that chatd runs
// without a MongoDB server. chatd supervises it; it is not meant to be started by hand.
package main

import (
	"context"
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

	"github.com/FerretDB/FerretDB/ferretdb"
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

	// MongoDBURI blocks until the listener is bound, so the announced address is the real one
	// even when port 0 was asked for. The supervisor reads this single line from stdout.
	announcement, _ := json.Marshal(map[string]any{"uri": f.MongoDBURI(), "pid": os.Getpid()})
	fmt.Println(string(announcement))

	if err := <-done; err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "chatd-ferretdb: "+msg)
	os.Exit(1)
}
