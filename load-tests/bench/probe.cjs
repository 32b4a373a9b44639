'use strict';
/*
 * Preloaded (`node --require`) into every server under test, pushgate and bare Socket.IO alike, so
 * memory and CPU are read the same way in both. It answers the orchestrator over the IPC channel:
 *   { probe: id, cmd: 'read' | 'gc' } → { probe: id, rss, heapUsed, external, cpuUser, cpuSystem, gc }
 * and ends the process when the orchestrator goes away (no orphaned servers after a crash).
 */
if (typeof process.send === 'function') {
  process.on('message', (msg) => {
    if (!msg || typeof msg !== 'object' || msg.probe === undefined) return;
    const canGc = typeof global.gc === 'function';
    if (msg.cmd === 'gc' && canGc) {
      // Several passes: the first can leave weak/finalised objects for the next one.
      for (let i = 0; i < 3; i++) global.gc();
    }
    const m = process.memoryUsage();
    const c = process.cpuUsage();
    process.send({ probe: msg.probe, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, cpuUser: c.user, cpuSystem: c.system, gc: canGc });
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  if (process.channel && typeof process.channel.unref === 'function') process.channel.unref();
}
