import type { AppId } from '../contracts/app-scope';
import type { AppConfig } from './config';

/** The apps of a Config, found by id or by Pusher key; the first is the default app. */
export class AppDirectory {
  readonly default: AppConfig;
  private readonly byId = new Map<AppId, AppConfig>();
  private readonly byKey = new Map<string, AppConfig>();

  constructor(readonly all: readonly AppConfig[]) {
    this.default = all[0]!;
    for (const a of all) {
      this.byId.set(a.id, a);
      if (a.key) this.byKey.set(a.key, a);
    }
  }

  get(id: AppId): AppConfig | undefined {
    return this.byId.get(id);
  }

  withKey(key: string): AppConfig | undefined {
    return this.byKey.get(key);
  }

  /** The app a socket belongs to (sockets carry their app's id). */
  of(id: AppId): AppConfig {
    return this.byId.get(id) ?? this.default;
  }
}
