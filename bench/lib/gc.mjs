#!/usr/bin/env node
// `node bench/lib/gc.mjs ws://127.0.0.1:PORT/UUID`: a full garbage collection in a Node.js peer
// started with --inspect, so memory per idle connection can be read without the garbage the
// connections' set-up left behind (V8 collects it only when later allocation asks it to).
import WebSocket from 'ws';

const socket = new WebSocket(process.argv[2]);
socket.on('error', (error) => {
  console.error(`gc: ${error.message}`);
  process.exit(1);
});
socket.on('open', () => socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
socket.on('message', (raw) => {
  if (JSON.parse(String(raw)).id === 1) socket.close();
});
