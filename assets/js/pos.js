// The POS screen of one open session: sale entry (touch keypad and
// keyboard), live totals and last sales, the card provider to use now, and
// an outbox that keeps taking sales while the hub is unreachable.

import { LiveConnection, showConnection } from "./live.js";
import { SaleQueue, newKey } from "./queue.js";
import { METHOD_LABELS, bind, el, parsePesos, pesos, time } from "./format.js";

const root = document.getElementById("pos");
const registerId = Number(root.dataset.register);
const sessionId = Number(root.dataset.session);
const form = document.getElementById("sale-form");
const amountInput = form.elements.amount;
const tenderedInput = form.elements.tendered;
const queue = new SaleQueue(registerId);

/** Errors after which a queued sale can never be recorded as it is. */
const FINAL_ERRORS = new Set([
  "session_changed", "no_open_session", "not_your_session", "caja_not_active", "caja_archived",
  "provider_not_configured", "idempotency_key_reused", "invalid_sale", "overflow", "unknown_caja",
]);
const RETRY_AFTER_MS = 2_000;
/** Answers after which a flagged sale is simply sent again later. */
const RETRYABLE = new Set([
  "rate_limited", "database_unavailable", "database_timeout", "register_busy", "register_reloaded", "internal",
]);

let register = null; // this caja's latest snapshot
let inFlight = null; // the queued sale (or flagged one) sent and not answered yet
let providersShown = "";
let lastResult = "";

const live = new LiveConnection(`/ws/caja/${registerId}`, {
  onChange(registers) {
    register = registers.get(registerId) ?? null;
    render();
    flush();
  },
  onReply: reply,
  onStatus(state, detail) {
    showConnection(bind(root, "connection"), state, detail);
    if (state !== "online") inFlight = null;
    render();
  },
});

// ------------------------------------------------------------ the outbox

function flush() {
  if (!live.connected || inFlight || !register) return;
  const item = queue.next();
  if (!item) {
    report();
    return;
  }
  if (register.session?.id !== item.sale.session_id) {
    queue.flag(item.id, "La sesión se cerró antes de que la venta llegara al servidor.");
    render();
    flush();
    return;
  }
  if (live.send({ type: "sale", id: item.id, sale: item.sale })) inFlight = item.id;
  render();
}

/** Hands a flagged sale to the hub, which keeps it for a supervisor. */
function report() {
  const item = queue.unreported();
  if (!item) return;
  const flag = { sale: item.sale, reason: item.flagged.reason, made_at: item.queuedAt };
  if (live.send({ type: "flag", id: item.id, flag })) inFlight = item.id;
}

function reply(message) {
  if (!inFlight || (message.id !== inFlight && message.code !== "rate_limited")) return;
  const id = inFlight;
  inFlight = null;
  const flagged = queue.items.find((item) => item.id === id)?.flagged;
  if (flagged) {
    replyToFlag(id, message);
  } else if (message.type === "ack") {
    queue.done(id);
    lastResult = `Venta registrada: ${pesos(message.total_charged)}` +
      (message.change > 0 ? ` · vuelto ${pesos(message.change)}` : "");
  } else if (FINAL_ERRORS.has(message.code)) {
    queue.flag(id, message.message);
    lastResult = `Venta no registrada: ${message.message}`;
  } else {
    // The hub is busy or its database away for a moment: try again.
    setTimeout(flush, RETRY_AFTER_MS);
  }
  render();
  flush();
}

function replyToFlag(id, message) {
  if (message.type === "ack" || message.code === "already_recorded") {
    // Kept by the hub for a supervisor (or recorded after all): off this device.
    queue.done(id);
  } else if (RETRYABLE.has(message.code)) {
    setTimeout(flush, RETRY_AFTER_MS);
  } else {
    queue.reportFailed(id, message.message);
  }
  render();
  flush();
}

// ------------------------------------------------------------ sale entry

function selectedMethod() {
  return form.elements.method.value;
}

/** Cash is charged rounded to the ten (Ley 20.956): 1–5 down, 6–9 up. */
function cashRounded(total) {
  const units = total % 10;
  return units >= 6 ? total - units + 10 : total - units;
}

function showError(field, message) {
  const target = form.querySelector(`[data-error="${field}"]`);
  if (target) target.textContent = message ?? "";
  const input = form.elements[field];
  if (input && input.setAttribute) input.setAttribute("aria-invalid", message ? "true" : "false");
}

function readSale() {
  ["amount", "tendered", "provider"].forEach((field) => showError(field, ""));
  const total = parsePesos(amountInput.value);
  if (!total) {
    showError("amount", "Ingresa el monto en pesos, por ejemplo 5.000.");
    return null;
  }
  const method = selectedMethod();
  const payment = { method, amount: total };
  if (method === "EFECTIVO" && tenderedInput.value.trim() !== "") {
    const tendered = parsePesos(tenderedInput.value);
    if (tendered === null) {
      showError("tendered", "Ingresa lo recibido en pesos, por ejemplo 10.000.");
      return null;
    }
    if (tendered < cashRounded(total)) {
      showError("tendered", `Lo recibido no alcanza: se cobran ${pesos(cashRounded(total))}.`);
      return null;
    }
    payment.tendered = tendered;
  }
  if (method === "DEBITO" || method === "CREDITO") {
    const provider = form.elements.provider?.value;
    if (!provider) {
      showError("provider", "Elige el proveedor con que se cobró la tarjeta.");
      return null;
    }
    payment.provider = provider;
  }
  return { key: newKey(), total, payments: [payment] };
}

/** Why this screen may not take a sale now, if it may not. */
/** What the cashier must know about the caja's link to the database, if anything. */
function stuckNotice() {
  if (register?.health?.status !== "stuck") return null;
  return `La caja no responde desde las ${time(register.health.since)} (${register.health.reason}): las ventas quedan guardadas en este equipo y se enviarán solas.`;
}

function refusal() {
  if (!register) return null; // not known yet (offline from the start): queue it
  if (!register.session) return "La sesión de esta caja se cerró: no se pueden registrar más ventas.";
  if (register.session.id !== sessionId) return "Esta caja tiene otra sesión abierta: recarga la página.";
  if (register.caja.operational_status !== "ACTIVE") return "Caja en mantención: no se pueden registrar ventas.";
  return null;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const refused = live.connected ? refusal() : null;
  if (refused) {
    lastResult = refused;
    render();
    return;
  }
  const sale = readSale();
  if (!sale) return;
  queue.add(sale, sessionId);
  lastResult = live.connected ? "Enviando venta…" : "Sin conexión: la venta quedó guardada y se enviará al reconectar.";
  form.reset();
  restoreProvider();
  renderMethod();
  render();
  flush();
  amountInput.focus();
});

function typeDigits(key) {
  const digits = amountInput.value.replace(/\D/g, "");
  const next = key === "back" ? digits.slice(0, -1) : (digits + key).replace(/^0+/, "");
  amountInput.value = next ? pesos(Number(next)) : "";
  renderHint();
}

form.querySelector(".keypad").addEventListener("click", (event) => {
  const key = event.target.closest("button")?.dataset.key;
  if (key) typeDigits(key);
});

for (const input of [amountInput, tenderedInput]) {
  input.addEventListener("input", () => {
    const digits = input.value.replace(/\D/g, "").replace(/^0+/, "").slice(0, 13);
    input.value = digits ? pesos(Number(digits)) : "";
    renderHint();
  });
}

form.addEventListener("change", (event) => {
  if (event.target.name === "method") renderMethod();
});

document.addEventListener("keydown", (event) => {
  const methods = { F1: "EFECTIVO", F2: "DEBITO", F3: "CREDITO", F4: "TRANSFERENCIA" };
  if (methods[event.key]) {
    event.preventDefault();
    form.querySelector(`input[name="method"][value="${methods[event.key]}"]`).checked = true;
    renderMethod();
  } else if (event.key === "Escape") {
    form.reset();
    restoreProvider();
    renderMethod();
  }
});

// ------------------------------------------------------------ rendering

function renderMethod() {
  const method = selectedMethod();
  const card = method === "DEBITO" || method === "CREDITO";
  form.querySelector(".card-only").hidden = !card;
  form.querySelector(".cash-only").hidden = method !== "EFECTIVO";
  renderHint();
}

function renderHint() {
  const hint = bind(root, "charge-hint");
  const total = parsePesos(amountInput.value);
  if (selectedMethod() !== "EFECTIVO" || !total) {
    hint.textContent = "";
    return;
  }
  const charged = cashRounded(total);
  const tendered = parsePesos(tenderedInput.value);
  let text = charged === total ? `Se cobran ${pesos(charged)}.` : `Se cobran ${pesos(charged)} (redondeo del efectivo).`;
  if (tendered !== null && tendered >= charged) text += ` Vuelto: ${pesos(tendered - charged)}.`;
  hint.textContent = text;
}

/** Selects the provider the hub advises, once the form was reset. */
function restoreProvider() {
  const advised = register?.provider?.provider;
  const radio = advised && form.querySelector(`input[name="provider"][value="${advised}"]`);
  if (radio) radio.checked = true;
}

function renderProviders() {
  const caja = register.caja;
  const key = `${caja.payment_provider_primary}|${caja.payment_provider_backup ?? ""}|${register.provider.provider}`;
  if (key === providersShown) return;
  providersShown = key;
  const box = bind(root, "providers");
  box.replaceChildren();
  const options = [[caja.payment_provider_primary, "principal"]];
  if (caja.payment_provider_backup) options.push([caja.payment_provider_backup, "respaldo"]);
  for (const [provider, role] of options) {
    const label = el("label");
    const input = document.createElement("input");
    Object.assign(input, { type: "radio", name: "provider", value: provider });
    label.append(input, ` ${provider} (${role})`);
    box.append(label);
  }
  restoreProvider();
}

function renderTotals(session, caja) {
  const totals = bind(root, "totals");
  totals.replaceChildren();
  const row = (term, value) => totals.append(el("dt", term), el("dd", value));
  const sum = Object.values(session.payment_totals).reduce((a, b) => a + b, 0);
  row("Total vendido", caja.blind_count ? "oculto (arqueo ciego)" : pesos(sum));
  row("Tickets", session.ticket_count);
  for (const [method, label] of Object.entries(METHOD_LABELS)) {
    const amount = session.payment_totals[method] ?? 0;
    row(label, method === "EFECTIVO" && caja.blind_count ? "oculto (arqueo ciego)" : pesos(amount));
  }
  row("Tarjeta: principal / respaldo", `${session.primary_count} / ${session.backup_count}`);
}

function renderRecent(sales) {
  const list = bind(root, "recent");
  list.replaceChildren();
  if (!sales.length) list.append(el("li", "Sin ventas todavía.", "empty"));
  for (const sale of sales) {
    const methods = sale.methods.map((m) => METHOD_LABELS[m] ?? m).join(" + ");
    const provider = sale.provider ? ` · ${sale.provider}${sale.used_backup ? " (respaldo)" : ""}` : "";
    const item = el("li", `${time(sale.at)} · ${pesos(sale.total_charged)} · ${methods}${provider}`);
    if (sale.voided) {
      item.className = "voided";
      item.append(el("span", " ANULADA", "status off"));
    }
    list.append(item);
  }
}

function renderOutbox() {
  const pending = queue.pending().length;
  const waiting = bind(root, "queue");
  waiting.hidden = pending === 0;
  waiting.textContent = live.connected
    ? `Enviando ${pending} venta(s) guardada(s)…`
    : `${pending} venta(s) esperando conexión (guardadas en este equipo).`;
  const flagged = queue.flagged();
  const atHub = register?.flagged_pending ?? 0;
  bind(root, "flagged").hidden = flagged.length === 0 && atHub === 0;
  bind(root, "flagged-pending").textContent = atHub > 0 ? `${atHub} venta(s) de esta caja esperan a un supervisor.` : "";
  const list = bind(root, "flagged-list");
  list.replaceChildren();
  for (const item of flagged) {
    const payment = item.sale.payments[0];
    const where = item.flagged.reportError
      ? ` (guardada solo en este equipo: ${item.flagged.reportError})`
      : " (guardada en este equipo; se enviará al supervisor al reconectar)";
    list.append(el("li", `${time(item.queuedAt)} · ${pesos(item.sale.total)} · ${METHOD_LABELS[payment.method] ?? payment.method} — ${item.flagged.reason}${where}`));
  }
}

function render() {
  renderOutbox();
  bind(root, "sale-result").textContent = lastResult;
  const banner = bind(root, "banner");
  const refused = refusal();
  const notice = refused ?? stuckNotice();
  banner.hidden = !notice;
  banner.textContent = notice ?? "";
  bind(root, "charge").disabled = Boolean(refused) && live.connected;
  if (!register) return;
  bind(root, "caja-name").textContent = register.caja.name;
  renderProviders();
  const advice = bind(root, "provider-advice");
  advice.textContent = register.provider.backup
    ? `Usa ${register.provider.provider} (respaldo) desde las ${time(register.provider.since)}. ${register.provider.reason}`
    : `Usa ${register.provider.provider}. ${register.provider.reason}`;
  advice.classList.toggle("on-backup", register.provider.backup);
  const session = register.session;
  if (session && session.id === sessionId) {
    bind(root, "opened-at").textContent = time(session.opened_at);
    renderTotals(session, register.caja);
    renderRecent(register.recent_sales);
  }
}

renderMethod();
render();
amountInput.focus();
