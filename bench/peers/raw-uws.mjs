// The ceiling: uWebSockets.js pub/sub with nothing on top. Protocol (bench/loadgen/proto.go):
// "s<room>" subscribes and is answered "S<room>"; "p<room> <content>" is published unchanged to
// the room's topic, the sender included. No parsing beyond the room prefix, no allocation per
// message: the topic is a view into the received bytes.
import { createRequire } from 'node:module';
import uWS from 'uWebSockets.js';

const port = Number(process.env.PORT ?? 9001);
const host = process.env.HOST ?? '127.0.0.1';

// The registry build falls back to a slow JS shim when its binary does not load; a ceiling
// measured on the shim would be meaningless, so refuse to run.
const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
try {
  createRequire(import.meta.url)(`uWebSockets.js/binaries/${binary}`);
} catch (error) {
  console.error(`raw-uws: the native uWebSockets.js binary ${binary} does not load: ${error.message}`);
  process.exit(1);
}

const P = 0x70;
const S = 0x73;
const SPACE = 0x20;

const app = uWS.App();
app.ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  maxBackpressure: 4 * 1024 * 1024,
  message: (ws, message, isBinary) => {
    const bytes = new Uint8Array(message);
    if (bytes[0] === P) {
      let end = 1;
      while (end < bytes.length && bytes[end] !== SPACE) end++;
      app.publish(bytes.subarray(1, end), message, isBinary);
    } else if (bytes[0] === S) {
      const room = Buffer.from(message, 1).toString('latin1');
      ws.subscribe(room);
      ws.send(`S${room}`, false);
    }
  },
});
app.listen(host, port, (socket) => {
  if (!socket) {
    console.error(`raw-uws: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  console.log(`raw-uws: listening on ${host}:${port}`);
});
