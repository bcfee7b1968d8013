// The floor dashboard: a live tile per caja and the open jornada's totals.

import { LiveConnection, showConnection } from "./live.js";
import { METHOD_LABELS, STATUS_LABELS, ago, bind, el, pesos, time } from "./format.js";

const root = document.getElementById("floor");
/** A caja open without a sale for this long is flagged as idle. */
const IDLE_MINUTES = 20;
const REFRESH_MS = 30_000;

let registers = new Map();
let jornadaId = root.dataset.jornada ? Number(root.dataset.jornada) : null;

new LiveConnection("/ws/piso", {
  onChange(latest) {
    registers = latest;
    render();
  },
  onReply() {},
  onStatus(state, detail) {
    showConnection(bind(root, "connection"), state, detail);
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
  if (register.flagged_pending > 0) {
    alerts.push(["bad", `${register.flagged_pending} venta(s) sin registrar por revisar`]);
  }
  return alerts;
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
    fact("Tickets", session.ticket_count, "tickets");
    fact("Última venta", session.last_sale_at ? ago(session.last_sale_at, now) : "sin ventas", "last-sale");
  }
  fact("Proveedor", `${register.provider.provider}${register.provider.backup ? " (respaldo)" : " (principal)"}`, "provider");
  card.append(facts);

  const alerts = el("ul", null, "alerts");
  alerts.dataset.field = "alerts";
  for (const [level, text] of alertsOf(register, now)) alerts.append(el("li", text, `alert ${level}`));
  card.append(alerts);
  return card;
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
  for (const register of registers.values()) {
    const parts = [];
    if (register.jornada?.jornada_id === jornadaId) parts.push(register.jornada);
    if (register.session?.jornada_id === jornadaId) parts.push(register.session);
    for (const part of parts) {
      for (const [method, amount] of Object.entries(part.payment_totals)) totals[method] = (totals[method] ?? 0) + amount;
      tickets += part.ticket_count;
    }
  }
  const row = (term, value, field) => {
    const dd = el("dd", value);
    dd.dataset.field = field;
    list.append(el("dt", term), dd);
  };
  row("Total", pesos(sum(totals)), "jornada-total");
  row("Tickets", tickets, "jornada-tickets");
  for (const [method, label] of Object.entries(METHOD_LABELS)) row(label, pesos(totals[method] ?? 0), `jornada-${method}`);
}

function render() {
  const now = Date.now();
  const tiles = bind(root, "tiles");
  tiles.replaceChildren();
  const sorted = [...registers.values()].sort((a, b) => a.caja.id - b.caja.id);
  if (!sorted.length) tiles.append(el("p", "No hay cajas en funcionamiento.", "empty"));
  for (const register of sorted) tiles.append(tile(register, now));
  renderJornada();
}

// "hace N min" and idle alerts age without any event.
setInterval(render, REFRESH_MS);
