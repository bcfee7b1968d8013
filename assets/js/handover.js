// Sales a POS took offline and could not send over the caja's socket (the
// session closed or changed hands, the caja was archived, the login ended
// meanwhile) are handed to the hub over HTTP. The hub records each in its
// session when it still can, or keeps it for a supervisor, attributed to
// the session it was taken in. A sale the hub will not take from this login
// stays on the device, with why; nothing taken is dropped.

import { postJson } from "./api.js";

/** Answers after which a sale is simply offered again later. */
const LATER = new Set([0, 401, 429, 503]);

/**
 * Offers every sale of `queue` to the hub, oldest first. Resolves to what
 * happened: { recorded, flagged, kept, later } (counts).
 */
export async function handOver(queue) {
  const done = { recorded: 0, flagged: 0, kept: 0, later: 0 };
  for (const item of [...queue.items]) {
    const answer = await postJson(`/api/cajas/${queue.registerId}/offline-sales`, {
      sale: item.sale,
      made_at: item.queuedAt,
    });
    if (answer.ok) {
      queue.done(item.id);
      done[answer.body.outcome === "recorded" ? "recorded" : "flagged"] += 1;
    } else if (answer.body.code === "already_recorded") {
      queue.done(item.id);
      done.recorded += 1;
    } else if (LATER.has(answer.status)) {
      done.later = queue.items.length - done.recorded - done.flagged - done.kept;
      return done;
    } else {
      queue.keep(item.id, answer.body.message);
      done.kept += 1;
    }
  }
  return done;
}

/** What a cashier reads once the sales were offered. */
export function handedOverText(done) {
  const parts = [];
  if (done.recorded) parts.push(`${done.recorded} registrada(s) en su sesión`);
  if (done.flagged) parts.push(`${done.flagged} entregada(s) al supervisor para revisión (Ventas marcadas)`);
  if (done.kept) parts.push(`${done.kept} guardada(s) solo en este equipo: que la revise un supervisor aquí`);
  if (done.later) parts.push(`${done.later} por enviar: se reintenta sola`);
  return parts.length ? `Ventas hechas sin conexión: ${parts.join("; ")}.` : "";
}
