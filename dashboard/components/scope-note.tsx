import type { ReactNode } from 'react';

/**
 * What part of the cluster a page shows when APPS lists several apps: `forApp` once an app is
 * chosen, `forAll` on "All apps"; nothing with a single app.
 */
export function ScopeNote({ app, multi, forApp, forAll = 'All apps.' }: { app: string | null; multi: boolean; forApp: ReactNode; forAll?: ReactNode }) {
  if (!app && !multi) return null;
  return (
    <p className="scope-note" data-testid="scope">
      {app ? forApp : forAll}
    </p>
  );
}
