import type { MetricsSample } from '../../server/src/contracts/api';
import { clusterSeries } from '../../server/src/http/routes/admin';

const sample = (t: number, over: Partial<MetricsSample> = {}): MetricsSample => ({
  t,
  sockets: 10,
  users: 8,
  rooms: 3,
  pushedPerSec: 4,
  deliveredPerSec: 40,
  clientEventsPerSec: 2,
  backendErrorsPerSec: 0,
  pushP50Ms: 1,
  pushP99Ms: 5,
  rssBytes: 100,
  heapUsedBytes: 50,
  eventLoopLagMs: 1,
  clusterUsers: 12,
  clusterRooms: 4,
  caughtUp: 0,
  floodDisconnects: 0,
  slowConsumerDisconnects: 0,
  interruptedRecoveries: 0,
  handshakeRefusals: 1,
  ...over,
});

describe('clusterSeries', () => {
  it('adds the nodes up per 2 s slot, but takes users and rooms as presence counted them (once)', () => {
    const out = clusterSeries([{ samples: [sample(10_000)] }, { samples: [sample(10_500, { pushP99Ms: 9 })] }]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ t: 10_000, sockets: 20, users: 12, rooms: 4, pushedPerSec: 8, pushP99Ms: 9, handshakeRefusals: 2 });
  });

  it('counts a node once in a slot it sampled twice in: gauges as of its later sample, counts added, rates averaged', () => {
    const a = [sample(20_000, { sockets: 10, handshakeRefusals: 1, pushedPerSec: 2 }), sample(21_900, { sockets: 14, handshakeRefusals: 3, pushedPerSec: 6 })];
    const out = clusterSeries([{ samples: a }, { samples: [sample(20_100, { sockets: 5 })] }]);
    expect(out).toEqual([expect.objectContaining({ t: 20_000, sockets: 19, handshakeRefusals: 5, pushedPerSec: 8 })]);
  });

  it('leaves out the newest slot until every node has sampled in it', () => {
    const out = clusterSeries([{ samples: [sample(30_000), sample(32_000)] }, { samples: [sample(30_200)] }]);
    expect(out.map((s) => s.t)).toEqual([30_000]);
    const later = clusterSeries([{ samples: [sample(30_000), sample(32_000)] }, { samples: [sample(30_200), sample(32_300)] }]);
    expect(later.map((s) => s.t)).toEqual([30_000, 32_000]);
  });
});
