package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Conn is one client WebSocket. Frames are read by the connection's own goroutine with a reusable
// buffer (no allocation per frame); writes come from the pacer and from ping replies, hence the lock.
type Conn struct {
	idx    int
	room   int
	nc     net.Conn
	br     *bufio.Reader
	wmu    sync.Mutex
	wbuf   []byte
	rbuf   []byte
	msg    []byte
	recv   atomic.Int64 // deliveries this subscriber received
	lastSq atomic.Int64 // highest room sequence seen, for order checks
	nextID int          // protocol request ids, touched only by the goroutine that owns the phase
	closed atomic.Bool
}

// The mask key is fixed: RFC 6455 wants it unpredictable to protect proxies, and there is none here.
var maskKey = [4]byte{0x1b, 0x2d, 0x3f, 0x47}

func dial(ctx context.Context, url string, local *net.TCPAddr, idx int) (*Conn, error) {
	d := ws.Dialer{
		Timeout: 20 * time.Second,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: local, Timeout: 20 * time.Second}
			return nd.DialContext(ctx, network, addr)
		},
	}
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	c := &Conn{idx: idx, nc: nc, rbuf: make([]byte, 0, 2048)}
	// The dialer may have buffered frames that arrived with the handshake answer; keep reading from it.
	if br != nil {
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(nc, 4096)
	}
	return c, nil
}

// appendFrame appends a masked client text frame carrying payload to dst.
func appendFrame(dst []byte, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, 0x81) // FIN + text
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, maskKey[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], maskKey, 0)
	return dst
}

// WriteText sends payload as one masked text frame in a single write.
func (c *Conn) WriteText(payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendFrame(c.wbuf[:0], payload)
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > 64*1024 {
		c.wbuf = nil
	}
	return err
}

func (c *Conn) writeControl(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	frame := ws.NewFrame(op, true, append([]byte(nil), payload...))
	frame = ws.MaskFrameInPlaceWith(frame, maskKey)
	return ws.WriteFrame(c.nc, frame)
}

var errClosed = errors.New("connection closed by server")

// Next returns the next data message; the slice is valid until the following call. Pings are
// answered here so every protocol keeps its connection alive the same way.
func (c *Conn) Next() ([]byte, error) {
	c.msg = c.msg[:0]
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return nil, err
		}
		if h.Length > 16<<20 {
			return nil, fmt.Errorf("frame of %d bytes", h.Length)
		}
		n := int(h.Length)
		if cap(c.rbuf) < n {
			c.rbuf = make([]byte, n)
		}
		buf := c.rbuf[:n]
		if _, err := io.ReadFull(c.br, buf); err != nil {
			return nil, err
		}
		if h.Masked {
			ws.Cipher(buf, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			if err := c.writeControl(ws.OpPong, buf); err != nil {
				return nil, err
			}
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			if len(buf) >= 2 {
				return nil, fmt.Errorf("%w (%d %s)", errClosed, int(buf[0])<<8|int(buf[1]), string(buf[2:]))
			}
			return nil, errClosed
		}
		if h.Fin && len(c.msg) == 0 {
			return buf, nil
		}
		c.msg = append(c.msg, buf...)
		if h.Fin {
			return c.msg, nil
		}
	}
}

func (c *Conn) Close() {
	if c.closed.CompareAndSwap(false, true) {
		_ = c.nc.Close()
	}
}
