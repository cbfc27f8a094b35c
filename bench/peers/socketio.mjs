// Socket.IO 4 on its default `ws` engine, WebSocket transport only (the generator does not poll):
// "join" (with an ack) puts the socket in a room, "pub" emits "msg" to the room, sender included.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 9002);
const host = process.env.HOST ?? '127.0.0.1';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack();
  });
  socket.on('pub', (room, content) => {
    io.to(room).emit('msg', content);
  });
});
http.listen(port, host, () => console.log(`socket.io: listening on ${host}:${port}`));
