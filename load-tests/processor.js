'use strict';
/*
 * Artillery processor for the pushgate scenarios. Reads secrets from the environment only:
 *   PUSHGATE_LOAD_TOKEN  a client token (mint one with `node load-tests/processor.js`, below)
 *   PUSHGATE_API_KEY     an API key with the push scope, for the backend scenarios
 */
const { createSecretKey } = require('node:crypto');
const jwt = require('jsonwebtoken');

/**
 * A client token for user `load-client`, allowed in `load:*` rooms. Socket.IO options are templated
 * before a virtual user's first step and Artillery's workers do not see environment changes made
 * here, so the token is minted before Artillery starts and passed as PUSHGATE_LOAD_TOKEN:
 *   PUSHGATE_LOAD_TOKEN=$(PUSHGATE_JWT_SECRET=… node load-tests/processor.js) npx artillery@2.0 run …
 * One user id for all virtual users; each is still a socket of its own.
 */
function mintToken(secret, sub = 'load-client') {
  return jwt.sign({ sub, rooms: ['load:*'] }, createSecretKey(Buffer.from(secret)), { algorithm: 'HS256', expiresIn: '1h' });
}

/** Reports how many server events this virtual user's socket received (pushes, welcome included). */
function countReceived(context, events, done) {
  events.emit('counter', 'pushgate.events_received', context.__receivedMessageCount || 0);
  done();
}

/** A push body with its send time, so a client could compute push→receive latency. */
function stampPush(requestParams, context, ee, next) {
  if (requestParams.json && typeof requestParams.json === 'object') {
    requestParams.json = { ...requestParams.json, data: { ...(requestParams.json.data || {}), sentAt: Date.now() } };
  }
  next();
}

/**
 * Waits on this virtual user's socket for the next `bench` push to its room (context.vars.room),
 * for at most PUSHGATE_WAIT_MS (default 10 s): records push→receive latency from the `sentAt` the
 * backend scenario stamped, or fails the virtual user.
 */
function waitForPush(context, events, done) {
  const socket = context.sockets && context.sockets[''];
  if (!socket) return done(new Error('no socket'));
  const room = context.vars.room;
  const timeoutMs = Number(process.env.PUSHGATE_WAIT_MS || 10000);
  const onPush = (data, meta) => {
    if (room && (!meta || meta.room !== room)) return;
    clearTimeout(timer);
    socket.off('bench', onPush);
    events.emit('counter', 'pushgate.pushes_received', 1);
    if (data && typeof data.sentAt === 'number') events.emit('histogram', 'pushgate.push_to_receive_ms', Math.max(0, Date.now() - data.sentAt));
    done();
  };
  const timer = setTimeout(() => {
    socket.off('bench', onPush);
    done(new Error(`no push to ${room} within ${timeoutMs} ms`));
  }, timeoutMs);
  socket.on('bench', onPush);
}

/** One of the rooms the backends push to: `<roomPrefix>1` … `<roomPrefix>5` (vars.roomPrefix, default load:mix-). */
function pickRoom(context, _events, done) {
  context.vars.room = `${context.vars.roomPrefix || 'load:mix-'}${1 + Math.floor(Math.random() * 5)}`;
  done();
}

module.exports = { countReceived, stampPush, pickRoom, waitForPush, mintToken };

if (require.main === module) {
  if (!process.env.PUSHGATE_JWT_SECRET) {
    process.stderr.write('set PUSHGATE_JWT_SECRET to the node\'s JWT_SECRET\n');
    process.exit(2);
  }
  process.stdout.write(`${mintToken(process.env.PUSHGATE_JWT_SECRET)}\n`);
}
