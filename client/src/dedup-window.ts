/** Remembers the last `size` ids (a ring over a Set): bounded memory, O(1) per message. */
export class DedupWindow {
  private readonly ids = new Set<string>();
  private readonly ring: (string | undefined)[];
  private next = 0;

  private readonly size: number;

  constructor(size: number) {
    this.size = Number.isFinite(size) ? Math.max(0, Math.floor(size)) : 0;
    this.ring = new Array<string | undefined>(this.size);
  }

  /** Records `id`; answers false when it was already among the remembered ones. */
  add(id: string): boolean {
    if (this.size <= 0) return true;
    if (this.ids.has(id)) return false;
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.ids.delete(evicted);
    this.ring[this.next] = id;
    this.ids.add(id);
    this.next = (this.next + 1) % this.size;
    return true;
  }
}
