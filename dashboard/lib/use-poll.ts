'use client';

import { useCallback, useEffect, useRef, useState } from 'react';

export interface Poll<T> {
  data?: T;
  error?: Error;
  /** True until the first answer (or error) arrives. */
  loading: boolean;
  serverTime: number;
  reload: () => void;
}

/**
 * Loads now and then every `everyMs` (null: once). A failed refresh keeps the last good data on
 * screen next to the error, so a blip does not blank the page. Requests never overlap, and polling
 * pauses while the tab is hidden.
 */
export function usePoll<T>(load: () => Promise<{ data: T; serverTime: number }>, everyMs: number | null, deps: readonly unknown[]): Poll<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean; serverTime: number }>({ loading: true, serverTime: Date.now() });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const key = JSON.stringify(deps);
  const lastKey = useRef<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A new query starts from a loading state; a reload of the same query keeps what is shown.
    if (lastKey.current !== key) setState((s) => ({ ...s, data: undefined, error: undefined, loading: true }));
    lastKey.current = key;
    const run = async () => {
      if (cancelled) return;
      if (typeof document !== 'undefined' && document.hidden && everyMs !== null) {
        timer = setTimeout(run, everyMs);
        return;
      }
      try {
        const { data, serverTime } = await loadRef.current();
        if (!cancelled) setState({ data, error: undefined, loading: false, serverTime });
      } catch (err) {
        if (!cancelled) setState((s) => ({ ...s, error: err as Error, loading: false }));
      }
      if (!cancelled && everyMs !== null) timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [key, everyMs, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}
