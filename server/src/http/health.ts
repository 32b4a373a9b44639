import { Router } from 'express';

export interface HealthSource {
  nodeId: string;
  version: string;
  startedAt: number;
  /** Redis: 'none' when not configured. */
  redis(): 'up' | 'down' | 'none';
  draining(): boolean;
  connections(): number;
}

/** No API key: load balancers and orchestrators call these. Answers carry no secrets. */
export function healthRoutes(src: HealthSource): Router {
  const r = Router();
  const summary = () => {
    const redis = src.redis();
    const ready = redis !== 'down' && !src.draining();
    return {
      status: ready ? 'ok' : 'unavailable',
      ready,
      nodeId: src.nodeId,
      version: src.version,
      uptimeSeconds: Math.round((Date.now() - src.startedAt) / 1000),
      draining: src.draining(),
      redis,
      connections: src.connections(),
    };
  };
  r.get('/health', (_req, res) => {
    const s = summary();
    res.status(s.ready ? 200 : 503).json(s);
  });
  r.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/health/ready', (_req, res) => {
    const s = summary();
    res.status(s.ready ? 200 : 503).json({ status: s.status, redis: s.redis, draining: s.draining });
  });
  return r;
}
