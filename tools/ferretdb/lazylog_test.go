package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A handler that counts the derivations it was asked for.
type countingHandler struct {
	slog.Handler
	derived *int
}

func (h countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	*h.derived++
	return countingHandler{h.Handler.WithAttrs(attrs), h.derived}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	*h.derived++
	return countingHandler{h.Handler.WithGroup(name), h.derived}
}

func TestLazyHandlerWritesWhatTheBaseWould(t *testing.T) {
	var lazy, eager bytes.Buffer
	options := &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	for _, out := range []struct {
		logger *slog.Logger
	}{{slog.New(newLazyHandler(slog.NewJSONHandler(&lazy, options)))}, {slog.New(slog.NewJSONHandler(&eager, options))}} {
		out.logger.With("conn", "a").WithGroup("sql").With("q", "INSERT").Warn("slow", "ms", 12)
		out.logger.With("conn", "b").Info("below the level")
	}
	if lazy.String() != eager.String() || !strings.Contains(lazy.String(), `"sql":{"q":"INSERT","ms":12}`) {
		t.Fatalf("lazy wrote %q, eager %q", lazy.String(), eager.String())
	}
}

func TestLazyHandlerDerivesNothingForRecordsBelowTheLevel(t *testing.T) {
	derived := 0
	base := countingHandler{slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError}), &derived}
	logger := slog.New(newLazyHandler(base))
	for i := 0; i < 100; i++ {
		logger.With("query", strings.Repeat("x", 1000)).Debug("statement")
	}
	if derived != 0 {
		t.Fatalf("derived %d handlers for records nobody writes", derived)
	}
	logger.With("query", "q").Error("failed")
	if derived != 1 {
		t.Fatalf("derived %d handlers for one written record, want 1", derived)
	}
}
