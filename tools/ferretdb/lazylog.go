package main

import (
	"context"
	"log/slog"
)

// lazyHandler defers a handler's WithAttrs and WithGroup until a record is actually written.
//
// FerretDB derives a logger for every SQL statement it runs, with the statement and its arguments
// (for an insert: the documents) as attributes. slog's JSON handler formats those attributes the
// moment the logger is derived, whether or not anything is ever logged at the configured level:
// that was 7 % of the embedded database's CPU while storing messages. Replaying the derivations
// only when a record passes the level costs nothing on the common path.
type lazyHandler struct {
	base slog.Handler
	ops  []lazyOp
}

// lazyOp is one deferred derivation: a group name, or attributes.
type lazyOp struct {
	group string
	attrs []slog.Attr
}

func newLazyHandler(base slog.Handler) slog.Handler {
	return &lazyHandler{base: base}
}

func (h *lazyHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.base.Enabled(ctx, level)
}

func (h *lazyHandler) Handle(ctx context.Context, record slog.Record) error {
	handler := h.base
	for _, op := range h.ops {
		if op.attrs != nil {
			handler = handler.WithAttrs(op.attrs)
		} else {
			handler = handler.WithGroup(op.group)
		}
	}
	return handler.Handle(ctx, record)
}

func (h *lazyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(lazyOp{attrs: attrs})
}

func (h *lazyHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(lazyOp{group: name})
}

func (h *lazyHandler) with(op lazyOp) *lazyHandler {
	ops := make([]lazyOp, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &lazyHandler{base: h.base, ops: append(ops, op)}
}
