// Command loadgen drives many WebSocket connections from one process against one server and
// reports throughput, latency, server CPU per delivered message, memory per connection and gaps
// as JSON on stdout (progress goes to stderr). The runner (bench/run.mjs) starts it per run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

type Config struct {
	Proto       string
	URL         string
	Mode        string
	Rooms       int
	Members     int
	Conns       int
	Payload     int
	Rates       string
	StartRate   float64
	Factor      float64
	MaxSteps    int
	Refine      int
	MaxP99ms    float64
	Warmup      time.Duration
	StepDur     time.Duration
	DrainMax    time.Duration
	Settle      time.Duration
	Sources     int
	ServerPID   int
	DBPID       int
	Secret      string
	SetupFile   string
	GCCmd       string
	DialWorkers int
}

// One monotonic clock for every timestamp: send times go into payloads as microseconds since start.
var epoch = time.Now()

func nowMicros() int64 { return int64(time.Since(epoch) / time.Microsecond) }

const histShards = 16

type shard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

type Gen struct {
	cfg       Config
	proto     Proto
	lines     bool
	conns     []*Conn
	delivered atomic.Int64
	acks      atomic.Int64
	errs      atomic.Int64
	closed    atomic.Int64
	badMarker atomic.Int64
	lat       [histShards]shard
	ack       [histShards]shard
	// Owned by the pacer (the main goroutine).
	roomSent  []int64
	published int64
	cursor    int64
	content   []byte
	frame     []byte
	writeErrs int64
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 120_000_000, 3) }

func main() {
	var cfg Config
	var warm, step, drain, settle float64
	flag.StringVar(&cfg.Proto, "proto", "raw", "raw | sio | centrifugo | chatd")
	flag.StringVar(&cfg.URL, "url", "ws://127.0.0.1:9001", "server base URL (the protocol adds its path)")
	flag.StringVar(&cfg.Mode, "mode", "load", "load: publish in steps; idle: connect, authenticate, join (rooms of -members) and measure server memory")
	flag.IntVar(&cfg.Rooms, "rooms", 10, "rooms")
	flag.IntVar(&cfg.Members, "members", 100, "members per room (one connection each)")
	flag.IntVar(&cfg.Conns, "conns", 10000, "connections in idle mode")
	flag.IntVar(&cfg.Payload, "payload", 100, "message content bytes")
	flag.StringVar(&cfg.Rates, "rates", "", "comma-separated publish rates (messages/s); empty: step up geometrically to saturation")
	flag.Float64Var(&cfg.StartRate, "start-rate", 0, "first publish rate when stepping (default: 20k deliveries/s)")
	flag.Float64Var(&cfg.Factor, "factor", 2, "rate multiplier per step")
	flag.IntVar(&cfg.MaxSteps, "max-steps", 14, "at most this many steps")
	flag.Float64Var(&cfg.MaxP99ms, "max-p99-ms", 200, "a step whose p99 latency exceeds this is saturated, though stepping goes on while throughput keeps up")
	flag.IntVar(&cfg.Refine, "refine", 1, "after the first overloaded step, this many bisection steps between it and the last one that kept up")
	flag.Float64Var(&warm, "warmup", 0.5, "seconds at each rate before measuring")
	flag.Float64Var(&step, "step", 2, "measured seconds per rate")
	flag.Float64Var(&drain, "drain", 3, "seconds to wait for in-flight deliveries after a step")
	flag.Float64Var(&settle, "settle", 3, "idle mode: seconds to let the server settle before reading its memory")
	flag.IntVar(&cfg.Sources, "sources", 8, "source addresses 127.0.0.1..127.0.0.N")
	flag.IntVar(&cfg.ServerPID, "server-pid", 0, "server process to read CPU and memory from /proc")
	flag.IntVar(&cfg.DBPID, "db-pid", 0, "the server's database process (chatd's embedded FerretDB): its CPU is reported beside the server's")
	flag.StringVar(&cfg.Secret, "secret", "", "HMAC secret for centrifugo connection tokens")
	flag.StringVar(&cfg.GCCmd, "gc-cmd", "", "idle mode: a shell command that makes the server collect its garbage; memory is then read a second time, and the baseline after it too")
	flag.StringVar(&cfg.SetupFile, "setup", "", "chatd: JSON {conns:[{token,roomId}]} in connection order")
	flag.IntVar(&cfg.DialWorkers, "dial-workers", 64, "connections being set up at once")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the generator here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err.Error())
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	cfg.Warmup = time.Duration(warm * float64(time.Second))
	cfg.StepDur = time.Duration(step * float64(time.Second))
	cfg.DrainMax = time.Duration(drain * float64(time.Second))
	cfg.Settle = time.Duration(settle * float64(time.Second))
	if cfg.ServerPID == 0 {
		fail("-server-pid is required")
	}
	proto, err := newProto(cfg.Proto, &cfg)
	if err != nil {
		fail(err.Error())
	}
	g := &Gen{cfg: cfg, proto: proto}
	_, g.lines = proto.(Lines)
	for i := range g.lat {
		g.lat[i].h = newHist()
		g.ack[i].h = newHist()
	}
	var out any
	if cfg.Mode == "idle" {
		out = g.idle()
	} else {
		out = g.load()
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	for _, c := range g.conns {
		if c != nil {
			c.Close()
		}
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "loadgen:", msg)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
}

// connect opens n connections, spreading them over the source addresses, and runs each protocol
// set-up; members of room r are connections r*members .. r*members+members-1.
func (g *Gen) connect(n int, join bool) (time.Duration, error) {
	start := time.Now()
	g.conns = make([]*Conn, n)
	url := strings.TrimRight(g.cfg.URL, "/") + g.proto.Path()
	sem := make(chan struct{}, g.cfg.DialWorkers)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	members := max(g.cfg.Members, 1)
	for i := 0; i < n; i++ {
		if firstErr.Load() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%max(g.cfg.Sources, 1)))}
			var c *Conn
			var err error
			for attempt := 0; attempt < 3; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err = dial(ctx, url, local, i)
				cancel()
				if err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err == nil {
				c.room = i / members
				c.nc.SetDeadline(time.Now().Add(30 * time.Second))
				err = g.proto.Setup(c, join)
				c.nc.SetDeadline(time.Time{})
			}
			<-sem
			if err != nil {
				firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
				if c != nil {
					c.Close()
				}
				wg.Done()
				return
			}
			g.conns[i] = c
			wg.Done()
			g.readLoop(c)
		}(i)
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return time.Since(start), nil
}

func (g *Gen) readLoop(c *Conn) {
	for {
		msg, err := c.Next()
		if err != nil {
			if !c.closed.Load() {
				g.closed.Add(1)
			}
			return
		}
		if !g.lines {
			g.handle(c, msg)
			continue
		}
		for len(msg) > 0 {
			line := msg
			if i := indexByte(msg, '\n'); i >= 0 {
				line, msg = msg[:i], msg[i+1:]
			} else {
				msg = nil
			}
			if len(line) > 0 {
				g.handle(c, line)
			}
		}
	}
}

func indexByte(b []byte, x byte) int {
	for i, v := range b {
		if v == x {
			return i
		}
	}
	return -1
}

func (g *Gen) handle(c *Conn, msg []byte) {
	switch g.proto.Classify(c, msg) {
	case KindDelivery:
		if ts, ok := parseMarker(msg); ok {
			c.recv.Add(1)
			g.delivered.Add(1)
			s := &g.lat[c.idx%histShards]
			s.mu.Lock()
			_ = s.h.RecordValue(max(nowMicros()-ts, 1))
			s.mu.Unlock()
		} else {
			g.badMarker.Add(1)
		}
	case KindAck:
		if ts, ok := parseMarker(msg); ok {
			g.acks.Add(1)
			s := &g.ack[c.idx%histShards]
			s.mu.Lock()
			_ = s.h.RecordValue(max(nowMicros()-ts, 1))
			s.mu.Unlock()
		}
	case KindError:
		g.errs.Add(1)
	}
}

// The content of every published message starts "@@<publisher>.<room seq>.<sent µs>." and is
// padded with 'x' to the payload size, so any protocol's frame can be read without a JSON parse.
func (g *Gen) buildContent(pub int, seq int64) []byte {
	b := g.content[:0]
	b = append(b, '@', '@')
	b = strconv.AppendInt(b, int64(pub), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, nowMicros(), 10)
	b = append(b, '.')
	for len(b) < g.cfg.Payload {
		b = append(b, 'x')
	}
	g.content = b
	return b
}

func parseMarker(msg []byte) (int64, bool) {
	i := 0
	for ; i+1 < len(msg); i++ {
		if msg[i] == '@' && msg[i+1] == '@' {
			break
		}
	}
	i += 2
	field := 0
	var v int64
	for ; i < len(msg); i++ {
		ch := msg[i]
		if ch == '.' {
			if field == 2 {
				return v, true
			}
			field++
			v = 0
			continue
		}
		if ch < '0' || ch > '9' {
			return 0, false
		}
		v = v*10 + int64(ch-'0')
	}
	return 0, false
}

// publishOne sends the next message: rooms in turn, and within a room its members in turn.
func (g *Gen) publishOne() {
	rooms, members := int64(g.cfg.Rooms), int64(g.cfg.Members)
	r := g.cursor % rooms
	m := (g.cursor / rooms) % members
	g.cursor++
	c := g.conns[r*members+m]
	if c.closed.Load() {
		return
	}
	seq := g.roomSent[r] + 1
	g.frame = g.proto.AppendPublish(g.frame[:0], c, g.buildContent(c.idx, seq))
	if err := c.WriteText(g.frame); err != nil {
		g.writeErrs++
		return
	}
	g.roomSent[r] = seq
	g.published++
}

type sample struct {
	at        time.Time
	delivered int64
	published int64
	acks      int64
	serverCPU float64 // seconds
	dbCPU     float64
	selfCPU   float64
}

func (g *Gen) snap() sample {
	return sample{
		at: time.Now(), delivered: g.delivered.Load(), published: g.published, acks: g.acks.Load(),
		serverCPU: cpuSeconds(g.cfg.ServerPID), selfCPU: cpuSeconds(os.Getpid()), dbCPU: g.dbCPU(),
	}
}

func (g *Gen) dbCPU() float64 {
	if g.cfg.DBPID == 0 {
		return 0
	}
	return cpuSeconds(g.cfg.DBPID)
}

func resetHists(hs *[histShards]shard) {
	for i := range hs {
		hs[i].mu.Lock()
		hs[i].h.Reset()
		hs[i].mu.Unlock()
	}
}

func mergeHists(hs *[histShards]shard) *hdrhistogram.Histogram {
	all := newHist()
	for i := range hs {
		hs[i].mu.Lock()
		all.Merge(hs[i].h)
		hs[i].mu.Unlock()
	}
	return all
}

// pace publishes at rate for d; catching up is bounded to 200 ms of work so a pacer that falls
// behind (blocked writes: the server is not reading) shows up as a lower achieved rate, not a flood.
func (g *Gen) pace(rate float64, d time.Duration, at func(time.Duration) bool) {
	start := time.Now()
	var sent int64
	maxBurst := int64(rate*0.2) + 1
	for {
		el := time.Since(start)
		if el >= d {
			return
		}
		if at != nil && at(el) {
			at = nil
		}
		due := int64(rate*el.Seconds()) - sent
		if due > maxBurst {
			sent += due - maxBurst
			due = maxBurst
		}
		for ; due > 0; due-- {
			g.publishOne()
			sent++
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// missing counts deliveries each subscriber has not received of what its room was sent.
func (g *Gen) missing() (total int64, subscribers int) {
	for _, c := range g.conns {
		if c == nil {
			continue
		}
		if d := g.roomSent[c.room] - c.recv.Load(); d > 0 {
			total += d
			subscribers++
		}
	}
	return total, subscribers
}

// drain waits until every subscriber has what its room was sent, or deliveries stop arriving.
func (g *Gen) drain() bool {
	deadline := time.Now().Add(g.cfg.DrainMax)
	last, lastChange := g.delivered.Load(), time.Now()
	for time.Now().Before(deadline) {
		if m, _ := g.missing(); m == 0 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
		if d := g.delivered.Load(); d != last {
			last, lastChange = d, time.Now()
		} else if time.Since(lastChange) > 500*time.Millisecond {
			return false
		}
	}
	return false
}

type Step struct {
	OfferedPubRate   float64 `json:"offeredPubRate"`
	PubRate          float64 `json:"pubRate"`
	ExpectedRate     float64 `json:"expectedDeliveryRate"`
	DeliveredRate    float64 `json:"deliveredRate"`
	P50              int64   `json:"p50us"`
	P99              int64   `json:"p99us"`
	P999             int64   `json:"p999us"`
	Max              int64   `json:"maxus"`
	AckP50           int64   `json:"ackP50us,omitempty"`
	AckP99           int64   `json:"ackP99us,omitempty"`
	ServerCPUPct     float64 `json:"serverCpuPct"`
	ServerUsPerMsg   float64 `json:"serverCpuUsPerDelivered"`
	DBCPUPct         float64 `json:"dbCpuPct,omitempty"`
	DBUsPerMsg       float64 `json:"dbCpuUsPerDelivered,omitempty"`
	GenCPUPct        float64 `json:"genCpuPct"`
	Lost             int64   `json:"lost"`
	GapSubscribers   int     `json:"gapSubscribers"`
	Drained          bool    `json:"drained"`
	ClosedConns      int64   `json:"closedConns"`
	Errors           int64   `json:"errors"`
	WriteErrors      int64   `json:"writeErrors"`
	Saturated        bool    `json:"saturated"`  // any reason, latency included
	Overloaded       bool    `json:"overloaded"` // throughput did not keep up: stepping stops here
	SaturationReason string  `json:"saturationReason,omitempty"`
}

type LoadResult struct {
	Proto          string  `json:"proto"`
	Rooms          int     `json:"rooms"`
	Members        int     `json:"members"`
	Payload        int     `json:"payload"`
	Conns          int     `json:"conns"`
	ConnectSeconds float64 `json:"connectSeconds"`
	ServerRSSKiB   int64   `json:"serverRssKiB"`
	Steps          []Step  `json:"steps"`
	Error          string  `json:"error,omitempty"`
}

func (g *Gen) load() LoadResult {
	cfg := g.cfg
	res := LoadResult{Proto: cfg.Proto, Rooms: cfg.Rooms, Members: cfg.Members, Payload: cfg.Payload, Conns: cfg.Rooms * cfg.Members}
	took, err := g.connect(res.Conns, true)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.ConnectSeconds = took.Seconds()
	res.ServerRSSKiB = rssBytes(cfg.ServerPID) / 1024
	logf("%s: %d connections in %d rooms ready in %.1fs", cfg.Proto, res.Conns, cfg.Rooms, took.Seconds())
	g.roomSent = make([]int64, cfg.Rooms)
	g.content = make([]byte, 0, cfg.Payload+64)

	var rates []float64
	for _, f := range strings.Split(cfg.Rates, ",") {
		if f = strings.TrimSpace(f); f != "" {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				fail("bad -rates entry " + f)
			}
			rates = append(rates, v)
		}
	}
	auto := len(rates) == 0
	rate := cfg.StartRate
	if rate <= 0 {
		rate = 20000 / float64(cfg.Members)
	}
	// Step up geometrically until a step saturates; when the very first one does, step down until
	// one keeps up. Then bisect (geometrically) between the last good and the first bad rate.
	start := rate
	lastGood, firstBad := 0.0, 0.0
	for i := 0; i < cfg.MaxSteps; i++ {
		if !auto {
			if i >= len(rates) {
				break
			}
			rate = rates[i]
		}
		st := g.runStep(rate)
		res.Steps = append(res.Steps, st)
		if g.closed.Load() > int64(res.Conns)/100 {
			return res
		}
		if !auto {
			continue
		}
		if st.Overloaded {
			firstBad = rate
			if lastGood > 0 || rate < start/(cfg.Factor*cfg.Factor*cfg.Factor) {
				break
			}
			g.drain()
			rate /= cfg.Factor
			continue
		}
		lastGood = rate
		if firstBad > 0 {
			break
		}
		rate *= cfg.Factor
	}
	if auto && lastGood > 0 && firstBad > 0 {
		lo, hi := lastGood, firstBad
		for i := 0; i < cfg.Refine; i++ {
			g.drain()
			mid := math.Sqrt(lo * hi)
			st := g.runStep(mid)
			res.Steps = append(res.Steps, st)
			if g.closed.Load() > int64(res.Conns)/100 {
				break
			}
			if st.Overloaded {
				hi = mid
			} else {
				lo = mid
			}
		}
	}
	return res
}

func (g *Gen) runStep(rate float64) Step {
	st := g.step(rate)
	cfg := g.cfg
	suffix := ""
	if st.Saturated {
		suffix = " — saturated: " + st.SaturationReason
	}
	db := ""
	if cfg.DBPID != 0 {
		db = fmt.Sprintf(", database %.0f%% cpu %.2f µs/msg", st.DBCPUPct, st.DBUsPerMsg)
	}
	ack := ""
	if st.AckP99 > 0 {
		ack = fmt.Sprintf(", ack p99 %.1f ms", float64(st.AckP99)/1000)
	}
	logf("%s %dx%d %dB: offered %.0f pub/s → %.0f delivered/s, p99 %.1f ms%s, server %.0f%% cpu %.2f µs/msg%s, generator %.0f%% cpu%s",
		cfg.Proto, cfg.Rooms, cfg.Members, cfg.Payload, rate, st.DeliveredRate, float64(st.P99)/1000, ack,
		st.ServerCPUPct, st.ServerUsPerMsg, db, st.GenCPUPct, suffix)
	return st
}

func (g *Gen) step(rate float64) Step {
	var a sample
	lostBefore, _ := g.missing()
	errsBefore, closedBefore, writeErrsBefore := g.errs.Load(), g.closed.Load(), g.writeErrs
	g.pace(rate, g.cfg.Warmup+g.cfg.StepDur, func(el time.Duration) bool {
		if el < g.cfg.Warmup {
			return false
		}
		resetHists(&g.lat)
		resetHists(&g.ack)
		a = g.snap()
		return true
	})
	b := g.snap()
	lat := mergeHists(&g.lat)
	ack := mergeHists(&g.ack)
	drained := g.drain()
	lostAfter, gapSubs := g.missing()
	secs := b.at.Sub(a.at).Seconds()
	delivered := float64(b.delivered - a.delivered)
	pubs := float64(b.published - a.published)
	st := Step{
		OfferedPubRate: rate,
		PubRate:        pubs / secs,
		ExpectedRate:   pubs * float64(g.cfg.Members) / secs,
		DeliveredRate:  delivered / secs,
		P50:            lat.ValueAtQuantile(50),
		P99:            lat.ValueAtQuantile(99),
		P999:           lat.ValueAtQuantile(99.9),
		Max:            lat.Max(),
		ServerCPUPct:   100 * (b.serverCPU - a.serverCPU) / secs,
		DBCPUPct:       100 * (b.dbCPU - a.dbCPU) / secs,
		GenCPUPct:      100 * (b.selfCPU - a.selfCPU) / secs,
		Lost:           lostAfter - lostBefore,
		GapSubscribers: gapSubs,
		Drained:        drained,
		ClosedConns:    g.closed.Load() - closedBefore,
		Errors:         g.errs.Load() - errsBefore,
		WriteErrors:    g.writeErrs - writeErrsBefore,
	}
	if ack.TotalCount() > 0 {
		st.AckP50, st.AckP99 = ack.ValueAtQuantile(50), ack.ValueAtQuantile(99)
	}
	if delivered > 0 {
		st.ServerUsPerMsg = 1e6 * (b.serverCPU - a.serverCPU) / delivered
		st.DBUsPerMsg = 1e6 * (b.dbCPU - a.dbCPU) / delivered
	}
	var reasons []string
	if st.PubRate < 0.9*rate {
		reasons = append(reasons, "publishes could not be sent at the offered rate")
	}
	if st.DeliveredRate < 0.9*st.ExpectedRate {
		reasons = append(reasons, "deliveries fell behind publishes")
	}
	if !drained {
		reasons = append(reasons, "in-flight deliveries did not drain")
	}
	if st.Lost > 0 {
		reasons = append(reasons, "messages lost")
	}
	if st.ClosedConns > 0 {
		reasons = append(reasons, "server closed connections")
	}
	if st.Errors > 0 {
		reasons = append(reasons, "error answers")
	}
	// Latency alone does not stop the stepping: a server that batches (Centrifugo) trades latency
	// for throughput, and its peak is only found past the latency bound.
	st.Overloaded = len(reasons) > 0
	if float64(st.P99) > g.cfg.MaxP99ms*1000 {
		reasons = append(reasons, fmt.Sprintf("p99 latency above %.0f ms", g.cfg.MaxP99ms))
	}
	sort.Strings(reasons)
	st.Saturated = len(reasons) > 0
	st.SaturationReason = strings.Join(reasons, "; ")
	return st
}

type IdleResult struct {
	Proto          string  `json:"proto"`
	Conns          int     `json:"conns"`
	Sources        int     `json:"sources"`
	ConnectSeconds float64 `json:"connectSeconds"`
	RSSBeforeKiB   int64   `json:"rssBeforeKiB"`
	RSSAfterKiB    int64   `json:"rssAfterKiB"`
	BytesPerConn   float64 `json:"bytesPerConn"`
	// With -gc-cmd: the same after the server collected its garbage, from a collected baseline.
	RSSBeforeGCKiB int64   `json:"rssBeforeGcKiB,omitempty"`
	RSSAfterGCKiB  int64   `json:"rssAfterGcKiB,omitempty"`
	BytesPerConnGC float64 `json:"bytesPerConnAfterGc,omitempty"`
	ClosedConns    int64   `json:"closedConns"`
	Error          string  `json:"error,omitempty"`
}

// collect runs -gc-cmd and gives the server a moment to return what it freed.
func (g *Gen) collect() error {
	out, err := exec.Command("sh", "-c", g.cfg.GCCmd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("-gc-cmd failed: %v: %s", err, out)
	}
	time.Sleep(500 * time.Millisecond)
	return nil
}

// idle measures the server's resident memory per idle connection that authenticated and joined
// its room (rooms of -members connections).
func (g *Gen) idle() IdleResult {
	res := IdleResult{Proto: g.cfg.Proto, Conns: g.cfg.Conns, Sources: g.cfg.Sources}
	var beforeGC int64
	if g.cfg.GCCmd != "" {
		if err := g.collect(); err != nil {
			res.Error = err.Error()
			return res
		}
		beforeGC = rssBytes(g.cfg.ServerPID)
	}
	before := rssBytes(g.cfg.ServerPID)
	took, err := g.connect(g.cfg.Conns, true)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.ConnectSeconds = took.Seconds()
	// Let the server finish its set-up work (timers, garbage collection) before reading its memory.
	time.Sleep(g.cfg.Settle)
	after := rssBytes(g.cfg.ServerPID)
	res.RSSBeforeKiB, res.RSSAfterKiB = before/1024, after/1024
	res.BytesPerConn = float64(after-before) / float64(g.cfg.Conns)
	if g.cfg.GCCmd != "" {
		if err := g.collect(); err != nil {
			res.Error = err.Error()
			return res
		}
		afterGC := rssBytes(g.cfg.ServerPID)
		res.RSSBeforeGCKiB, res.RSSAfterGCKiB = beforeGC/1024, afterGC/1024
		res.BytesPerConnGC = float64(afterGC-beforeGC) / float64(g.cfg.Conns)
	}
	res.ClosedConns = g.closed.Load()
	runtime.KeepAlive(g.conns)
	return res
}
