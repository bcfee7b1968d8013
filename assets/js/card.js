// The card flow of the POS: one sale charged on a card terminal, from its
// first attempt to an approval, on the primary provider or — when that one
// fails or does not answer in time — on the backup phones. The hub owns the
// attempts (README "Payments"); this page keeps in the browser's storage
// only the sale it is charging, so a reload picks the flow up where it was
// and a sale waiting for its card result is never lost.

import { newKey } from "./queue.js";

/** An attempt nobody knows the result of yet. */
export const UNRESOLVED = new Set(["PENDING", "TIMED_OUT", "UNKNOWN"]);

/**
 * An approved charge nothing has settled yet: no sale used it, it was not
 * refunded in full nor written off (README "Payments": every approved
 * charge ends in exactly one of those).
 */
export function isOpenCharge(attempt) {
  return attempt.status === "APPROVED" && attempt.sale_id === null && !attempt.written_off_at
    && (attempt.refunded_amount ?? 0) < attempt.amount;
}

/** The one card sale this POS is charging, kept across reloads. */
export class CardSale {
  constructor(registerId) {
    this.storageKey = `cajahub.pos.${registerId}.card`;
    this.current = this.load();
  }

  load() {
    try {
      const stored = JSON.parse(localStorage.getItem(this.storageKey) ?? "null");
      return stored && typeof stored.saleKey === "string" ? stored : null;
    } catch {
      return null;
    }
  }

  save() {
    if (this.current) localStorage.setItem(this.storageKey, JSON.stringify(this.current));
    else localStorage.removeItem(this.storageKey);
  }

  /**
   * Starts charging `total` by `method` in session `sessionId`; `cash`:
   * the part of a mixed tender paid in cash, and `lines`: the ticket's,
   * both recorded with the sale; `tip`: charged on the card with `total`.
   */
  begin(total, method, sessionId, cash = 0, lines = null, tip = 0) {
    this.current = {
      saleKey: newKey(),
      total,
      tip,
      cash,
      // The ticket's lines, recorded with the sale once the card is approved.
      lines,
      method,
      sessionId,
      // The card_start sent and not answered yet (sent again, same key, after a reload).
      startKey: newKey(),
      startError: null,
      // Attempts after which the backup was started automatically (once each).
      fellBackFrom: [],
      begunAt: new Date().toISOString(),
    };
    this.save();
    return this.current;
  }

  /** Another attempt for the same sale (a retry, or the backup). */
  again() {
    if (!this.current) return null;
    this.current.startKey = newKey();
    this.current.startError = null;
    this.save();
    return this.current.startKey;
  }

  started() {
    if (!this.current) return;
    this.current.startKey = null;
    this.save();
  }

  failedToStart(error) {
    if (!this.current) return;
    this.current.startKey = null;
    this.current.startError = error;
    this.save();
  }

  fellBack(attemptId) {
    if (!this.current) return;
    this.current.fellBackFrom.push(attemptId);
    this.save();
  }

  clear() {
    this.current = null;
    this.save();
  }

  /** This sale's attempts as the hub last said, oldest first. */
  attempts(register) {
    if (!this.current || !register) return [];
    return (register.card_attempts ?? []).filter((a) => a.sale_key === this.current.saleKey).sort((a, b) => a.id - b.id);
  }
}

/** The card_start message for the current sale (`provider` left to the hub's advice). */
export function startMessage(sale) {
  return {
    type: "card_start",
    id: `card:${sale.startKey}`,
    // The terminal charges the sale's part and the tip at once.
    attempt: { key: sale.startKey, sale_key: sale.saleKey, amount: sale.total + (sale.tip ?? 0), tip: sale.tip ?? 0, method: sale.method },
  };
}

/** A card_resolve message: how the terminal said `attempt` ended. */
export function resolveMessage(attempt, outcome, code, voucher = {}) {
  const key = newKey();
  const resolve = { attempt_id: attempt.id, key, outcome };
  if (outcome === "approved") Object.assign(resolve, voucher, { authorization_code: code });
  return { type: "card_resolve", id: `resolve:${key}`, resolve };
}

/** May the sale go on on the backup after `attempt` failed? */
export function backupAfter(register, attempt) {
  const { caja, provider: advice } = register;
  const backup = caja.payment_provider_backup;
  if (!backup || !advice.fallback_enabled || attempt.provider !== caja.payment_provider_primary) return null;
  const health = advice.health.find((h) => h.provider === backup);
  return health?.status === "DOWN" ? null : backup;
}

/** "2 celulares" / "1 celular" / none registered. */
export function phones(count) {
  if (!count) return "ningún celular registrado en la caja";
  return `${count} celular${count === 1 ? "" : "es"}`;
}

/** Whole seconds from now to `iso`, never below zero. */
export function secondsUntil(iso, now = Date.now()) {
  return Math.max(0, Math.ceil((new Date(iso).getTime() - now) / 1000));
}

/** An authorization code as terminals print it: 4 to 12 letters or digits. */
export function readCode(text) {
  const code = String(text ?? "").trim().toUpperCase();
  return /^[A-Z0-9]{4,12}$/.test(code) ? code : null;
}
