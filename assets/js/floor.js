// The floor dashboard: the venue's card providers, its boletas when they
// need someone, a live tile per caja
// (with the card payments nobody knows the result of, and the charges with
// no sale, which a supervisor resolves, refunds or writes off from here) and
// the open jornada's totals.

import { postJson } from "./api.js";
import { LiveConnection, showConnection } from "./live.js";
import { METHOD_LABELS, STATUS_LABELS, ago, bind, el, parsePesos, pesos, time } from "./format.js";
import { UNRESOLVED, isOpenCharge, readCode } from "./card.js";
import { newKey } from "./queue.js";

const root = document.getElementById("floor");
/** A caja open without a sale for this long is flagged as idle. */
const IDLE_MINUTES = 20;
const REFRESH_MS = 30_000;

let registers = new Map();
const dialog = document.getElementById("action-dialog");
const PROVIDER_STATUS = { OK: "Operativo", DEGRADED: "Con fallas", DOWN: "Caído" };
const ATTEMPT_STATUS = { PENDING: "esperando al terminal", TIMED_OUT: "sin respuesta", UNKNOWN: "desconocido (reinicio)" };
let jornadaId = root.dataset.jornada ? Number(root.dataset.jornada) : null;
/** The boletas' outbox, as the hub last said. */
let boletas = null;
/** A boleta waiting longer than this for the provider is an alert. */
const BOLETA_LATE_MINUTES = 5;

new LiveConnection("/ws/piso", {
  onChange(latest) {
    registers = latest;
    render();
  },
  onReply() {},
  onBoletas(summary) {
    boletas = summary;
    renderBoletas(Date.now());
  },
  onStatus(state, detail) {
    showConnection(bind(root, "connection"), state, detail);
    markStale(state === "online");
  },
});

const sum = (totals) => Object.values(totals ?? {}).reduce((a, b) => a + b, 0);

function alertsOf(register, now) {
  const alerts = [];
  if (register.health?.status === "stuck") {
    alerts.push(["bad", `Sin respuesta desde las ${time(register.health.since)}: ${register.health.reason}`]);
  }
  const { session, provider, last_closing: closing } = register;
  if (session && provider.backup) alerts.push(["warn", `En respaldo: ${provider.provider} desde las ${time(provider.since)}`]);
  if (session) {
    const since = session.last_sale_at ?? session.opened_at;
    const idle = (now - new Date(since).getTime()) / 60000;
    if (idle >= IDLE_MINUTES) alerts.push(["warn", `Sin ventas ${ago(since, now)}`]);
  } else if (closing && closing.cash_difference !== 0) {
    const word = closing.cash_difference > 0 ? "sobrante" : "faltante";
    alerts.push(["bad", `Cerró con ${word} de ${pesos(Math.abs(closing.cash_difference))} (${time(closing.closed_at)})`]);
  }
  const pos = register.pos;
  if (session && pos && !pos.online && pos.since) alerts.push(["bad", `POS sin conexión desde las ${time(pos.since)}`]);
  if (session && pos?.pending > 0) alerts.push(["warn", `El POS tiene ${pos.pending} venta(s) guardada(s) sin enviar`]);
  if (session) {
    for (const sale of register.large_sales ?? []) {
      alerts.push(["warn", `Venta inusualmente alta: ${pesos(sale.total_charged)} a las ${time(sale.at)}: revisa que no sobre un 000`]);
    }
  }
  if (register.flagged_pending > 0) {
    alerts.push(["bad", `${register.flagged_pending} venta(s) sin registrar por revisar`]);
  }
  const unresolved = openAttempts(register, now).filter((a) => UNRESOLVED.has(a.status));
  if (unresolved.length) alerts.push(["bad", `${unresolved.length} cobro(s) con tarjeta por resolver`]);
  const stranded = openAttempts(register, now).filter(isOpenCharge);
  if (stranded.length) {
    const amount = stranded.reduce((total, a) => total + a.amount - (a.refunded_amount ?? 0), 0);
    alerts.push(["bad", `${stranded.length} cobro(s) con tarjeta sin venta (${pesos(amount)}): devolver o dar de baja`]);
  }
  return alerts;
}

/** An approval its sale has this long to use before the floor calls it a charge with no sale. */
const SALE_GRACE_MS = 2 * 60_000;

/**
 * The caja's card attempts that need someone: nobody knows their result
 * (timed out, or left unknown by a restart: one still within its time is
 * the cashier's, not an alert), or a charge with no sale (approved late,
 * or approved and left without its sale for a while).
 */
function openAttempts(register, now) {
  return (register.card_attempts ?? []).filter((a) => {
    if (a.status === "PENDING") return false;
    if (UNRESOLVED.has(a.status)) return true;
    if (!isOpenCharge(a)) return false;
    return a.approved_late || now - Date.parse(a.ended_at) > SALE_GRACE_MS;
  });
}

/** What an attempt that needs someone is, in words. */
function attemptState(attempt) {
  if (!isOpenCharge(attempt)) return ATTEMPT_STATUS[attempt.status] ?? attempt.status;
  const left = attempt.amount - (attempt.refunded_amount ?? 0);
  const settle = left < attempt.amount ? `, quedan ${pesos(left)} por devolver` : "";
  return (attempt.approved_late ? "cobrado sin venta" : "aprobado, sin venta registrada") + settle;
}

/** One attempt that needs someone, with what a supervisor can do about it. */
function attemptItem(register, attempt) {
  const { caja, provider: advice } = register;
  const item = el("li");
  item.dataset.attempt = attempt.id;
  item.append(el("span", `#${attempt.id} · ${attempt.provider} · ${pesos(attempt.amount)} · ${attemptState(attempt)} (${time(attempt.started_at)})`, "what"));
  const what = `Caja ${caja.name}, cobro #${attempt.id}: ${attempt.provider} por ${pesos(attempt.amount)}`;
  const url = `/api/cajas/${caja.id}/card-attempts`;
  const button = (label, open) => {
    const b = el("button", label);
    b.type = "button";
    b.addEventListener("click", open);
    item.append(b);
  };
  if (isOpenCharge(attempt)) {
    const left = attempt.amount - (attempt.refunded_amount ?? 0);
    button("Devolver…", () => ask({
      title: "Devolver el cobro", what: `${what}. Haz la devolución en el terminal y escribe su código.`,
      code: "Código de la devolución en el terminal", amount: left, reason: "Motivo", reasonRequired: true,
      send: ({ code, amount, reason }) => post(`${url}/${attempt.id}/refund`, { key: newKey(), amount, authorization_code: code, reason }),
    }));
    button("Dar de baja…", () => ask({
      title: "Dar de baja el cobro", what: `${what}. Sin devolución: queda en la auditoría con tu nombre y el motivo.`,
      reason: "Motivo", reasonRequired: true,
      send: ({ reason }) => post(`${url}/${attempt.id}/write-off`, { key: newKey(), reason }),
    }));
    return item;
  }
  button("Aprobado…", () => ask({
    title: "Marcar como aprobado", what, code: true, reason: "Nota (opcional)",
    send: ({ code, reason }) => post(`${url}/${attempt.id}/resolve`, { key: newKey(), outcome: "approved", authorization_code: code, ...(reason && { note: reason }) }),
  }));
  button("No se cobró", () => ask({
    title: "Marcar como no cobrado", what, reason: "Nota (opcional)",
    send: ({ reason }) => post(`${url}/${attempt.id}/resolve`, { key: newKey(), outcome: "not_charged", ...(reason && { note: reason }) }),
  }));
  const backup = caja.payment_provider_backup;
  if (backup && advice.fallback_enabled && attempt.provider === caja.payment_provider_primary) {
    button(`Autorizar cobro en ${backup}`, () => ask({
      title: `Autorizar el cobro en ${backup}`,
      what: `${what}. Sin saber si ${attempt.provider} cobró, la venta se cobra en ${backup}: confirma que el cliente no pagará dos veces.`,
      send: () => post(url, { key: newKey(), sale_key: attempt.sale_key, amount: attempt.amount, method: attempt.method, provider: backup, override: true }),
    }));
  }
  return item;
}

let staleSince = null; // when the page last stopped hearing from the hub

/** Away from the hub, the numbers on screen are old: dimmed, and said so
 * with since when, so nobody reads them as live. */
function markStale(online) {
  if (online) staleSince = null;
  else staleSince ??= new Date();
  const stale = staleSince !== null && registers.size > 0;
  root.dataset.stale = stale ? "yes" : "no";
  const notice = bind(root, "stale");
  notice.hidden = !stale;
  notice.textContent = stale
    ? `Sin conexión con el servidor desde las ${time(staleSince)}: estos números son de esa hora y pueden estar desactualizados.`
    : "";
}

/** How urgent a caja's alerts are: 2 something is wrong, 1 worth a look. */
function urgency(register, now) {
  const levels = alertsOf(register, now).map(([level]) => (level === "bad" ? 2 : 1));
  const stuck = register.health?.status === "stuck" ? 2 : 0;
  return Math.max(0, stuck, ...levels);
}

function statusOf(register) {
  if (register.health?.status === "stuck") return ["bad", "Sin respuesta"];
  const status = register.caja.operational_status;
  if (status !== "ACTIVE") return [status === "MAINTENANCE" ? "warn" : "off", STATUS_LABELS[status] ?? status];
  return register.session ? ["ok", "Abierta"] : ["off", "Cerrada"];
}

function tile(register, now) {
  const { caja, session } = register;
  const card = el("article", null, "tile");
  card.dataset.caja = caja.id;
  card.dataset.health = register.health?.status ?? "ok";
  const head = el("header");
  const [tone, label] = statusOf(register);
  const badge = el("span", label, `status ${tone}`);
  badge.dataset.field = "status";
  head.append(el("h3", caja.name), badge);
  card.append(head);

  const facts = el("dl");
  const fact = (term, value, field) => {
    const dd = el("dd", value);
    dd.dataset.field = field;
    facts.append(el("dt", term), dd);
  };
  if (session) {
    fact("Cajero", session.opened_by_name, "cashier");
    fact("Abierta desde", `${time(session.opened_at)} (${ago(session.opened_at, now)})`, "opened");
    fact("Total", pesos(sum(session.payment_totals)), "total");
    fact("Ventas", session.ticket_count, "tickets");
    if (sum(session.tip_totals) > 0) fact("Propinas (aparte)", pesos(sum(session.tip_totals)), "tips");
    fact("Retiros / ingresos", `${pesos(session.cash_out)} / ${pesos(session.cash_in)}`, "movements");
    fact("Última venta", session.last_sale_at ? ago(session.last_sale_at, now) : "sin ventas", "last-sale");
  }
  const jornada = register.jornada;
  if (!session && jornada && jornada.ticket_count > 0) {
    // A closed caja keeps what it took in the jornada.
    fact("Vendido en la jornada", pesos(sum(jornada.payment_totals)), "jornada-total");
    fact("Ventas en la jornada", jornada.ticket_count, "jornada-tickets");
    if (sum(jornada.tip_totals) > 0) fact("Propinas en la jornada", pesos(sum(jornada.tip_totals)), "jornada-tips");
  }
  fact("Proveedor", `${register.provider.provider}${register.provider.backup ? " (respaldo)" : " (principal)"}`, "provider");
  for (const health of register.provider.health) {
    const since = health.since ? ` desde las ${time(health.since)}` : "";
    fact(health.provider, `${PROVIDER_STATUS[health.status] ?? health.status}${since}`, `health-${health.provider}`);
  }
  card.append(facts);
  const link = (href, text) => {
    const a = el("a", text);
    a.href = href;
    a.dataset.field = "session-link";
    return a;
  };
  if (session) card.append(link(`/caja/session/${session.id}`, "Ver la sesión: ventas, anular, cerrar"));
  else if (register.last_closing) {
    const { session_id: id, closed_at: at } = register.last_closing;
    card.append(link(`/caja/session/${id}`, `Ver el último cierre (${time(at)})`));
  }

  const alerts = el("ul", null, "alerts");
  alerts.dataset.field = "alerts";
  for (const [level, text] of alertsOf(register, now)) alerts.append(el("li", text, `alert ${level}`));
  card.append(alerts);
  const open = openAttempts(register, now);
  if (open.length) {
    const list = el("ul", null, "attempts");
    list.dataset.field = "attempts";
    for (const attempt of open) list.append(attemptItem(register, attempt));
    card.append(list);
  }
  return card;
}

/** Each provider the venue's cajas use: out for the venue, failing on some cajas, or fine. */
function renderProviders() {
  const venue = new Map();
  for (const register of registers.values()) {
    for (const health of register.provider.health) {
      const seen = venue.get(health.provider) ?? { provider: health.provider, down: null, degraded: 0, backupOn: 0 };
      if (health.status === "DOWN") seen.down = health;
      if (health.status === "DEGRADED") seen.degraded += 1;
      venue.set(health.provider, seen);
    }
    if (register.session && register.provider.backup) {
      const backup = venue.get(register.provider.provider);
      if (backup) backup.backupOn += 1;
    }
  }
  const list = bind(root, "providers");
  list.replaceChildren();
  if (!venue.size) list.append(el("li", "Ninguna caja en funcionamiento.", "empty"));
  const sorted = [...venue.values()].sort((a, b) => a.provider.localeCompare(b.provider));
  for (const p of sorted) {
    const item = el("li", null, "provider");
    item.dataset.provider = p.provider;
    const [tone, label] = p.down
      ? ["bad", `Caído desde las ${time(p.down.since)}`]
      : p.degraded ? ["warn", `Con fallas en ${p.degraded} caja(s)`] : ["ok", "Operativo"];
    const badge = el("span", label, `status ${tone}`);
    badge.dataset.field = "status";
    item.append(el("strong", p.provider), " ", badge);
    if (p.down?.reason) item.append(el("span", ` ${p.down.reason}`, "muted"));
    if (p.backupOn) item.append(el("span", `${p.backupOn} caja(s) cobrando con ${p.provider} de respaldo`, "muted"));
    const b = el("button", p.down ? "Marcar operativo" : "Marcar caído");
    b.type = "button";
    b.dataset.action = p.down ? "up" : "down";
    b.addEventListener("click", () => ask({
      title: p.down ? `${p.provider} volvió a funcionar` : `${p.provider} caído en todo el local`,
      what: p.down
        ? `Todas las cajas vuelven a cobrar con ${p.provider} como siempre.`
        : `Todas las cajas que lo usan pasan a su respaldo ahora.`,
      reason: "Motivo",
      reasonRequired: true,
      send: ({ reason }) => post(`/api/proveedores/${p.provider}/${p.down ? "operativo" : "caido"}`, { reason }),
    }));
    item.append(b);
    list.append(item);
  }
  const down = sorted.filter((p) => p.down);
  const alert = bind(root, "venue-alert");
  alert.hidden = down.length === 0;
  alert.textContent = down
    .map((p) => `${p.provider} caído en el local desde las ${time(p.down.since)} (${p.down.reason}): las cajas cobran con su respaldo.`)
    .join(" ");
}

/** A JSON POST to the hub; resolves to null, or to the hub's error message. */
async function post(url, body) {
  const answer = await postJson(url, body);
  return answer.ok ? null : answer.body.message;
}

/** Opens the action dialog; `send(fields)` runs on confirm and says what went wrong, if anything. */
function ask({ title, what, code = false, amount = null, reason = null, reasonRequired = false, send }) {
  const form = dialog.querySelector("form");
  bind(dialog, "action-title").textContent = title;
  bind(dialog, "action-what").textContent = what;
  bind(dialog, "code-field").hidden = !code;
  bind(dialog, "code-label").textContent = typeof code === "string" ? code : "Código de autorización del terminal";
  bind(dialog, "amount-field").hidden = amount === null;
  form.elements.amount.value = amount === null ? "" : pesos(amount);
  bind(dialog, "reason-field").hidden = !reason;
  bind(dialog, "reason-label").textContent = reason ?? "";
  const error = bind(dialog, "action-error");
  error.textContent = "";
  form.elements.code.value = "";
  form.elements.reason.value = "";
  form.onsubmit = async (event) => {
    if (event.submitter?.value !== "confirm") return;
    event.preventDefault();
    const fields = { reason: form.elements.reason.value.trim() };
    if (code) {
      fields.code = readCode(form.elements.code.value);
      if (!fields.code) {
        error.textContent = "El código tiene de 4 a 12 letras o números, como lo muestra el terminal.";
        form.elements.code.focus();
        return;
      }
    }
    if (amount !== null) {
      fields.amount = parsePesos(form.elements.amount.value);
      if (!fields.amount || fields.amount > amount) {
        error.textContent = `El monto va en pesos enteros, de $1 a ${pesos(amount)}.`;
        form.elements.amount.focus();
        return;
      }
    }
    if (reasonRequired && !fields.reason) {
      error.textContent = "Escribe el motivo: queda en la auditoría.";
      form.elements.reason.focus();
      return;
    }
    const confirm = bind(dialog, "action-confirm");
    confirm.disabled = true;
    const failed = await send(fields);
    confirm.disabled = false;
    if (failed) error.textContent = failed;
    else dialog.close();
  };
  dialog.showModal();
  (code ? form.elements.code : reason ? form.elements.reason : bind(dialog, "action-confirm")).focus();
}

function renderJornada() {
  // A session opened in a newer jornada than the page knew means one opened since.
  for (const register of registers.values()) {
    const id = register.session?.jornada_id;
    if (id && (jornadaId === null || id > jornadaId)) jornadaId = id;
  }
  const title = bind(root, "jornada-title");
  const list = bind(root, "jornada-totals");
  list.replaceChildren();
  if (jornadaId === null) {
    title.textContent = "No hay una jornada abierta";
    return;
  }
  title.textContent = `Jornada #${jornadaId}`;
  const totals = {};
  let tickets = 0;
  let tipped = 0;
  for (const register of registers.values()) {
    const parts = [];
    if (register.jornada?.jornada_id === jornadaId) parts.push(register.jornada);
    if (register.session?.jornada_id === jornadaId) parts.push(register.session);
    for (const part of parts) {
      for (const [method, amount] of Object.entries(part.payment_totals)) totals[method] = (totals[method] ?? 0) + amount;
      tickets += part.ticket_count;
      tipped += sum(part.tip_totals);
    }
  }
  const row = (term, value, field) => {
    const dd = el("dd", value);
    dd.dataset.field = field;
    list.append(el("dt", term), dd);
  };
  row("Total", pesos(sum(totals)), "jornada-total");
  row("Ventas", tickets, "jornada-tickets");
  for (const [method, label] of Object.entries(METHOD_LABELS)) row(label, pesos(totals[method] ?? 0), `jornada-${method}`);
  // Not revenue: beside the sales, never in their total (rule 19).
  row("Propinas (aparte)", pesos(tipped), "jornada-tips");
}

/** The boletas that need someone: rejected, or waiting too long for the
 * provider. Nothing shows while they flow. */
function renderBoletas(now) {
  const box = bind(root, "boletas");
  const alerts = [];
  if (boletas?.rejected > 0) {
    alerts.push(`${boletas.rejected} boleta(s) rechazada(s): revisar y reenviar`);
  }
  const waited = boletas?.oldest_pending ? (now - Date.parse(boletas.oldest_pending)) / 60_000 : 0;
  if (boletas?.pending > 0 && waited >= BOLETA_LATE_MINUTES) {
    alerts.push(`${boletas.pending} boleta(s) esperan al proveedor desde hace ${Math.floor(waited)} min`);
  }
  box.hidden = alerts.length === 0;
  bind(box, "boletas-alert").textContent = alerts.join(" · ");
  // The outbox at a glance, while the venue issues boletas.
  const section = bind(root, "boletas-section");
  section.hidden = boletas === null;
  if (boletas === null) return;
  const oldest = boletas.pending > 0 ? ` (la más antigua hace ${waited < 1 ? "menos de 1 min" : `${Math.floor(waited)} min`})` : "";
  const status = bind(section, "boletas-status");
  status.replaceChildren(
    `${boletas.pending} por enviar${oldest} · ${boletas.rejected} rechazada(s) por revisar · `,
    Object.assign(el("a", "Ver boletas"), { href: "/admin/boletas" }),
  );
}

function render() {
  const now = Date.now();
  renderBoletas(now);
  const tiles = bind(root, "tiles");
  tiles.replaceChildren();
  // The cajas that need a supervisor first, so none sits below the fold.
  const sorted = [...registers.values()]
    .map((register) => ({ register, urgency: urgency(register, now) }))
    .sort((a, b) => b.urgency - a.urgency || a.register.caja.id - b.register.caja.id)
    .map(({ register }) => register);
  if (!sorted.length) tiles.append(el("p", "No hay cajas en funcionamiento.", "empty"));
  for (const register of sorted) tiles.append(tile(register, now));
  renderProviders();
  renderJornada();
}

// "hace N min" and idle alerts age without any event.
setInterval(render, REFRESH_MS);
