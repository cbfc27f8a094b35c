package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Kind tells what a received message is to the measurement.
type Kind int

const (
	KindOther    Kind = iota
	KindDelivery      // a published message pushed to a room member
	KindAck           // the server's answer to our own publish (chatd's message_sent)
	KindError         // a protocol-level error answer
)

// Proto is one server's wire protocol as seen by a client.
type Proto interface {
	Path() string
	// Setup runs right after the WebSocket upgrade: authenticate and, when join is set, join the room.
	Setup(c *Conn, join bool) error
	// AppendPublish appends the text message that publishes content to room c.room from c.
	AppendPublish(dst []byte, c *Conn, content []byte) []byte
	// Classify looks at one received message; it may answer protocol pings on c.
	Classify(c *Conn, msg []byte) Kind
}

func newProto(name string, cfg *Config) (Proto, error) {
	switch name {
	case "raw":
		return rawProto{}, nil
	case "sio":
		return sioProto{}, nil
	case "centrifugo":
		if cfg.Secret == "" {
			return nil, fmt.Errorf("-secret is needed for centrifugo connection tokens")
		}
		return &centrifugoProto{secret: []byte(cfg.Secret)}, nil
	case "chatd":
		if cfg.SetupFile == "" {
			return nil, fmt.Errorf("-setup is needed for chatd (tokens and room ids per connection)")
		}
		return loadChatd(cfg.SetupFile)
	case "chatd-sio":
		if cfg.SetupFile == "" {
			return nil, fmt.Errorf("-setup is needed for chatd-sio (tokens and room ids per connection)")
		}
		chatd, err := loadChatd(cfg.SetupFile)
		if err != nil {
			return nil, err
		}
		return &chatdSioProto{chatd}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q (raw, sio, centrifugo, chatd, chatd-sio)", name)
}

// waitFor reads messages until match accepts one or fail recognises an error answer.
func waitFor(c *Conn, what string, match func([]byte) bool, fail func([]byte) bool) error {
	for {
		msg, err := c.Next()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if fail != nil && fail(msg) {
			return fmt.Errorf("waiting for %s: server answered %.200s", what, msg)
		}
		if match(msg) {
			return nil
		}
	}
}

// --- raw uWebSockets.js pub/sub (bench/peers/raw-uws.mjs) ---
// Client → server: "s<room>" subscribes (answered "S<room>"), "p<room> <content>" publishes.
// Server → members: the publish message exactly as received.
type rawProto struct{}

func (rawProto) Path() string { return "/" }

func (rawProto) Setup(c *Conn, join bool) error {
	if !join {
		return nil
	}
	if err := c.WriteText([]byte("s" + strconv.Itoa(c.room))); err != nil {
		return err
	}
	return waitFor(c, "subscription", func(m []byte) bool { return len(m) > 0 && m[0] == 'S' }, nil)
}

func (rawProto) AppendPublish(dst []byte, c *Conn, content []byte) []byte {
	dst = append(dst, 'p')
	dst = strconv.AppendInt(dst, int64(c.room), 10)
	dst = append(dst, ' ')
	return append(dst, content...)
}

func (rawProto) Classify(_ *Conn, msg []byte) Kind {
	if len(msg) > 0 && msg[0] == 'p' {
		return KindDelivery
	}
	return KindOther
}

// --- Socket.IO 4 over Engine.IO v4, WebSocket transport only ---
// Engine.IO packet types: 0 open, 2 ping, 3 pong, 4 message; Socket.IO: 0 connect, 2 event, 3 ack.
type sioProto struct{}

func (sioProto) Path() string { return "/socket.io/?EIO=4&transport=websocket" }

func (sioProto) Setup(c *Conn, join bool) error {
	if err := waitFor(c, "engine.io open", func(m []byte) bool { return len(m) > 0 && m[0] == '0' }, nil); err != nil {
		return err
	}
	if err := c.WriteText([]byte("40")); err != nil {
		return err
	}
	isErr := func(m []byte) bool { return bytes.HasPrefix(m, []byte("44")) }
	if err := waitFor(c, "namespace connect", func(m []byte) bool { return bytes.HasPrefix(m, []byte("40")) }, isErr); err != nil {
		return err
	}
	if !join {
		return nil
	}
	if err := c.WriteText([]byte(`421["join","r` + strconv.Itoa(c.room) + `"]`)); err != nil {
		return err
	}
	return waitFor(c, "join ack", func(m []byte) bool { return bytes.HasPrefix(m, []byte("431")) }, isErr)
}

func (sioProto) AppendPublish(dst []byte, c *Conn, content []byte) []byte {
	dst = append(dst, `42["pub","r`...)
	dst = strconv.AppendInt(dst, int64(c.room), 10)
	dst = append(dst, `","`...)
	dst = append(dst, content...)
	return append(dst, `"]`...)
}

var sioPing = []byte("2")

func (sioProto) Classify(c *Conn, msg []byte) Kind {
	if bytes.HasPrefix(msg, []byte(`42["msg"`)) {
		return KindDelivery
	}
	if bytes.Equal(msg, sioPing) {
		_ = c.WriteText([]byte("3"))
	}
	return KindOther
}

// --- Centrifugo v6 JSON client protocol ---
// Commands {"id":N,"connect"|"subscribe"|"publish":{...}}; replies carry the id; pushes are
// {"push":{"channel":..,"pub":{"data":..}}}; several may share one frame, one per line. An empty
// object is the server's ping and is answered with an empty object.
type centrifugoProto struct{ secret []byte }

func (*centrifugoProto) Path() string { return "/connection/websocket" }

// hs256 signs a connection JWT for user sub.
func hs256(secret []byte, sub string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"sub": sub, "exp": time.Now().Add(24 * time.Hour).Unix()})
	unsigned := header + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

func replyWithID(id int) (func([]byte) bool, func([]byte) bool) {
	needle := []byte(`"id":` + strconv.Itoa(id) + `,`)
	match := func(m []byte) bool { return bytes.Contains(m, needle) }
	fail := func(m []byte) bool { return bytes.Contains(m, needle) && bytes.Contains(m, []byte(`"error"`)) }
	return match, fail
}

func (p *centrifugoProto) Setup(c *Conn, join bool) error {
	token := hs256(p.secret, "u"+strconv.Itoa(c.idx))
	if err := c.WriteText([]byte(`{"id":1,"connect":{"token":"` + token + `","name":"loadgen"}}`)); err != nil {
		return err
	}
	match, fail := replyWithID(1)
	if err := waitFor(c, "connect reply", match, fail); err != nil {
		return err
	}
	c.nextID = 3
	if !join {
		return nil
	}
	if err := c.WriteText([]byte(`{"id":2,"subscribe":{"channel":"r` + strconv.Itoa(c.room) + `"}}`)); err != nil {
		return err
	}
	match, fail = replyWithID(2)
	return waitFor(c, "subscribe reply", match, fail)
}

func (*centrifugoProto) AppendPublish(dst []byte, c *Conn, content []byte) []byte {
	c.nextID++
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, int64(c.nextID), 10)
	dst = append(dst, `,"publish":{"channel":"r`...)
	dst = strconv.AppendInt(dst, int64(c.room), 10)
	dst = append(dst, `","data":{"c":"`...)
	dst = append(dst, content...)
	return append(dst, `"}}}`...)
}

var centrifugoPing = []byte("{}")

// Classify sees one line: the generator splits Centrifugo's batched frames (see Lines) first.
func (*centrifugoProto) Classify(c *Conn, msg []byte) Kind {
	switch {
	case bytes.HasPrefix(msg, []byte(`{"push"`)):
		return KindDelivery
	case bytes.Equal(msg, centrifugoPing):
		_ = c.WriteText(centrifugoPing)
	case bytes.Contains(msg, []byte(`"error"`)):
		return KindError
	}
	return KindOther
}

// Lines marks protocols whose frames may carry several newline-separated messages.
type Lines interface{ BatchedLines() bool }

func (*centrifugoProto) BatchedLines() bool { return true }

// --- chatd's hub (docs/protocol.md: JSON frames {"event","data","id"}) ---
type chatdConn struct {
	Token  string `json:"token"`
	RoomID string `json:"roomId"`
}

type chatdProto struct {
	conns []chatdConn
}

// loadChatd reads the per-connection tokens and room ids that the runner created through the REST API.
func loadChatd(path string) (*chatdProto, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var setup struct {
		Conns []chatdConn `json:"conns"`
	}
	if err := json.Unmarshal(raw, &setup); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &chatdProto{conns: setup.Conns}, nil
}

func (*chatdProto) Path() string { return "/ws" }

func (p *chatdProto) Setup(c *Conn, join bool) error {
	if c.idx >= len(p.conns) {
		return fmt.Errorf("the setup file has %d connections, connection %d needs one", len(p.conns), c.idx)
	}
	me := p.conns[c.idx]
	isErr := func(m []byte) bool { return bytes.HasPrefix(m, []byte(`{"event":"error"`)) }
	auth, _ := json.Marshal(map[string]any{"event": "authenticate", "data": map[string]string{"token": me.Token}})
	if err := c.WriteText(auth); err != nil {
		return err
	}
	if err := waitFor(c, "authenticated", func(m []byte) bool { return bytes.HasPrefix(m, []byte(`{"event":"authenticated"`)) }, isErr); err != nil {
		return err
	}
	if !join {
		return nil
	}
	joinFrame, _ := json.Marshal(map[string]any{"event": "join_room", "data": map[string]string{"roomId": me.RoomID}, "id": "join"})
	if err := c.WriteText(joinFrame); err != nil {
		return err
	}
	return waitFor(c, "join_room reply", func(m []byte) bool { return bytes.Contains(m, []byte(`"id":"join"`)) }, isErr)
}

// appendSendMessage appends send_message's data object for connection c's next message.
func (p *chatdProto) appendSendMessage(dst []byte, c *Conn, content []byte) []byte {
	c.nextID++
	dst = append(dst, `{"roomId":"`...)
	dst = append(dst, p.conns[c.idx].RoomID...)
	dst = append(dst, `","content":"`...)
	dst = append(dst, content...)
	dst = append(dst, `","clientMsgId":"lg`...)
	dst = strconv.AppendInt(dst, int64(c.idx), 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, int64(c.nextID), 10)
	return append(dst, `"}`...)
}

func (p *chatdProto) AppendPublish(dst []byte, c *Conn, content []byte) []byte {
	dst = append(dst, `{"event":"send_message","data":`...)
	dst = p.appendSendMessage(dst, c, content)
	dst = append(dst, `,"id":`...)
	dst = strconv.AppendInt(dst, int64(c.nextID), 10)
	return append(dst, '}')
}

func (*chatdProto) Classify(_ *Conn, msg []byte) Kind {
	switch {
	case bytes.HasPrefix(msg, []byte(`{"event":"new_message"`)):
		return KindDelivery
	case bytes.HasPrefix(msg, []byte(`{"event":"message_sent"`)):
		return KindAck
	case bytes.HasPrefix(msg, []byte(`{"event":"error"`)):
		return KindError
	}
	return KindOther
}

// --- chatd's Socket.IO endpoint (docs/protocol.md), as a spec client speaks it ---
// The token goes in the namespace CONNECT packet's auth (`40{"token":..}`); join_room is acknowledged
// (`431[...]`), send_message is answered by the message_sent event, deliveries are new_message events.
type chatdSioProto struct{ *chatdProto }

func (*chatdSioProto) Path() string { return "/socket.io/?EIO=4&transport=websocket" }

func (p *chatdSioProto) Setup(c *Conn, join bool) error {
	if c.idx >= len(p.conns) {
		return fmt.Errorf("the setup file has %d connections, connection %d needs one", len(p.conns), c.idx)
	}
	me := p.conns[c.idx]
	if err := waitFor(c, "engine.io open", func(m []byte) bool { return len(m) > 0 && m[0] == '0' }, nil); err != nil {
		return err
	}
	auth, _ := json.Marshal(map[string]string{"token": me.Token})
	if err := c.WriteText(append([]byte("40"), auth...)); err != nil {
		return err
	}
	isErr := func(m []byte) bool { return bytes.HasPrefix(m, []byte("44")) || bytes.HasPrefix(m, []byte(`42["error"`)) }
	if err := waitFor(c, "namespace connect", func(m []byte) bool { return bytes.HasPrefix(m, []byte("40")) }, isErr); err != nil {
		return err
	}
	if !join {
		return nil
	}
	joinPacket, _ := json.Marshal([]any{"join_room", map[string]string{"roomId": me.RoomID}})
	if err := c.WriteText(append([]byte("421"), joinPacket...)); err != nil {
		return err
	}
	return waitFor(c, "join_room ack", func(m []byte) bool { return bytes.HasPrefix(m, []byte("431")) }, isErr)
}

func (p *chatdSioProto) AppendPublish(dst []byte, c *Conn, content []byte) []byte {
	dst = append(dst, `42["send_message",`...)
	dst = p.appendSendMessage(dst, c, content)
	return append(dst, ']')
}

func (*chatdSioProto) Classify(c *Conn, msg []byte) Kind {
	switch {
	case bytes.HasPrefix(msg, []byte(`42["new_message"`)):
		return KindDelivery
	case bytes.HasPrefix(msg, []byte(`42["message_sent"`)):
		return KindAck
	case bytes.HasPrefix(msg, []byte(`42["error"`)):
		return KindError
	case bytes.Equal(msg, sioPing):
		_ = c.WriteText([]byte("3"))
	}
	return KindOther
}
