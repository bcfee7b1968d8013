// The POS's outbox: every sale goes here first, in the browser's storage, so
// a dropped Wi-Fi or a reloaded page loses nothing. Each sale keeps its
// idempotency key from the moment it is made: sending it twice records it
// once. Sales that can no longer be recorded stay, flagged for a supervisor.

/** A UUID v4 even where crypto.randomUUID is missing (plain http on the LAN). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const PREFIX = "cajahub.pos.";
const SUFFIX = ".outbox";

export class SaleQueue {
  constructor(registerId) {
    this.registerId = registerId;
    this.storageKey = `${PREFIX}${registerId}${SUFFIX}`;
    this.items = this.load();
  }

  /** Every caja this device holds unsent sales of. */
  static stored() {
    const ids = [];
    for (let i = 0; i < localStorage.length; i += 1) {
      const key = localStorage.key(i) ?? "";
      const id = Number(key.slice(PREFIX.length, -SUFFIX.length));
      if (key.startsWith(PREFIX) && key.endsWith(SUFFIX) && Number.isInteger(id) && id > 0) ids.push(id);
    }
    return ids.map((id) => new SaleQueue(id)).filter((queue) => queue.items.length > 0);
  }

  load() {
    try {
      const stored = JSON.parse(localStorage.getItem(this.storageKey) ?? "[]");
      return Array.isArray(stored) ? stored : [];
    } catch {
      return [];
    }
  }

  save() {
    localStorage.setItem(this.storageKey, JSON.stringify(this.items));
  }

  /** Queues a sale (made in `sessionId`) and returns its entry; a sale
   * already queued (same key) stays as it is. */
  add(sale, sessionId) {
    const queued = this.items.find((item) => item.id === sale.key);
    if (queued) return queued;
    const entry = { id: sale.key, sale: { ...sale, session_id: sessionId }, queuedAt: new Date().toISOString(), flagged: null };
    this.items.push(entry);
    this.save();
    return entry;
  }

  /** The oldest sale still to send: sales go in the order they were made. */
  next() {
    return this.items.find((item) => !item.flagged) ?? null;
  }

  pending() {
    return this.items.filter((item) => !item.flagged);
  }

  flagged() {
    return this.items.filter((item) => item.flagged);
  }

  /** The oldest flagged sale the hub has not been given yet. */
  unreported() {
    return this.items.find((item) => item.flagged && !item.flagged.reportError) ?? null;
  }

  /** The hub refused to keep it: it stays here, with why. */
  reportFailed(id, error) {
    const item = this.items.find((entry) => entry.id === id);
    if (item?.flagged) {
      item.flagged.reportError = error;
      this.save();
    }
  }

  /** The hub will not take it from this login: kept here, flagged, with why. */
  keep(id, error) {
    const item = this.items.find((entry) => entry.id === id);
    if (!item) return;
    item.flagged ??= { reason: error, at: new Date().toISOString() };
    item.flagged.reportError = error;
    this.save();
  }

  /** Recorded (or kept for a supervisor) by the hub: out of the outbox. */
  done(id) {
    this.items = this.items.filter((item) => item.id !== id);
    this.save();
  }

  /** Cannot be recorded any more: kept, with why, for a supervisor. */
  flag(id, reason) {
    const item = this.items.find((entry) => entry.id === id);
    if (item) {
      item.flagged = { reason, at: new Date().toISOString() };
      this.save();
    }
  }
}
