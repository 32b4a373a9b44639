import type { Metadata } from 'next';
import { NodesView } from './nodes-view';

export const metadata: Metadata = { title: 'Nodes' };

export default function NodesPage() {
  return <NodesView />;
}
