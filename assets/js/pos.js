// The POS screen of one open session: sale entry (touch keypad and
// keyboard), the card flow on the provider the hub advises (and its backup),
// live totals and last sales, and an outbox that keeps taking sales while
// the hub is unreachable.

import { postJson } from "./api.js";
import { LiveConnection, showConnection } from "./live.js";
import { SaleQueue, newKey } from "./queue.js";
import { handOver, handedOverText } from "./handover.js";
import { METHOD_LABELS, bind, el, parsePesos, pesos, regroupAsTyped, time } from "./format.js";
import { Keys } from "./keys.js";
import { Ticket } from "./ticket.js";
import { CardSale, UNRESOLVED, isOpenCharge, backupAfter, phones, readCode, resolveMessage, secondsUntil, startMessage } from "./card.js";

const root = document.getElementById("pos");
const registerId = Number(root.dataset.register);
const sessionId = Number(root.dataset.session);
const form = document.getElementById("sale-form");
const amountInput = form.elements.amount;
const tenderedInput = form.elements.tendered;
const cashPartInput = form.elements.cash_part;
const tipInput = form.elements.tip;
const queue = new SaleQueue(registerId);
const card = new CardSale(registerId);
const flow = document.getElementById("card-flow");
const codeDialog = document.getElementById("code-dialog");
const voidDialog = document.getElementById("void-dialog");
const movementDialog = document.getElementById("movement-dialog");
const confirmDialog = document.getElementById("confirm-dialog");
const entryDialog = document.getElementById("entry-dialog");
const ticket = new Ticket(registerId);
let ticketShown = false; // the amount field mirrors a ticket
const keys = new Keys(bind(root, "products"), bind(root, "ticket"), ticket, {
  onPick(product) {
    startNextSale();
    // An amount typed before the first product is part of the ticket.
    const typed = ticket.isEmpty() ? parsePesos(amountInput.value) : null;
    if (typed) ticket.addAmount(typed);
    ticket.add(product);
    renderTicket();
  },
  onChange: () => renderTicket(),
  onFreeAmount: () => askEntry("Monto libre", "Monto", "$0", (text) => {
    const amount = parsePesos(text);
    if (!amount || amount > SALE_MAX) return "Ingresa el monto en pesos, por ejemplo 2.500.";
    startNextSale();
    ticket.addAmount(amount);
    renderTicket();
    return null;
  }),
  onQuantity: (index) => {
    const line = ticket.lines[index];
    askEntry(`Cantidad de ${line.name}`, "Cantidad", String(line.quantity), (text) => {
      const quantity = /^\d{1,3}$/.test(text.trim()) ? Number(text.trim()) : 0;
      if (quantity < 1) return "La cantidad va de 1 a 999.";
      ticket.setQuantity(index, quantity);
      renderTicket();
      return null;
    });
  },
});
/** The venue's bounds on one sale: above the first the cashier confirms
 * the amount, above the second it is a typo (an extra "000"). */
const CONFIRM_ABOVE = Number(root.dataset.confirmAbove);
const SALE_MAX = Number(root.dataset.saleMax);
/** A supervisor at this screen voids without typing a PIN. */
const viewerSigns = root.dataset.signs === "yes";

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
let startInFlight = null; // the card_start sent and not answered yet
let cardNotice = ""; // the hub's answer to the last card action, when it refused
let acked = new Map(); // attempts the hub acknowledged, until its event arrives
let providersShown = "";
let lastResult = "";
let lastChange = null; // the change to hand over for the last sale, until the next one starts
let lastSaleKey = null; // the sale this screen last took, whose answer it shows
let repeatedCode = ""; // the warning of the last card approval whose typed code the jornada already had
let ticking = null;
let outboxReported = null; // what the hub last heard of this device's outbox
let gone = null; // why this page can no longer sell here (the hub ended or refuses it)
let confirmedTotal = null; // a large amount the cashier confirmed, for the sale being charged
let handing = false; // the outbox is being handed over by HTTP
let tips = { mode: "off", percent: 10, limit_percent: 50 }; // the venue's, with the catalog
const HAND_OVER_RETRY_MS = 5_000;

const live = new LiveConnection(`/ws/caja/${registerId}`, {
  onCatalog(catalog) {
    showCatalog(catalog);
  },
  onChange(registers, message) {
    if (message?.catalog) showCatalog(message.catalog);
    register = registers.get(registerId) ?? null;
    advanceCard();
    render();
    flush();
  },
  onReply(message) {
    if (typeof message.id === "string" && message.id.startsWith("card:")) cardStartReply(message);
    else if (typeof message.id === "string" && message.id.startsWith("resolve:")) resolveReply(message);
    else reply(message);
  },
  onRefused() {
    // The hub answers pages but not this caja's socket: the session is no
    // longer this cashier's (closed, or another opened) or the caja is gone.
    sessionGone("La sesión de esta caja terminó o ya no es tuya");
    return true;
  },
  onStatus(state, detail) {
    showConnection(bind(root, "connection"), state, detail);
    if (state === "ended") sessionGone(`Desconectado: ${detail}`);
    if (state !== "online") {
      inFlight = null;
      startInFlight = null;
      outboxReported = null;
    }
    advanceCard();
    render();
  },
});

/** The hub takes card attempts now (else the cashier confirms by hand, offline). */
function cardsLive() {
  return live.connected && register?.health?.status !== "stuck";
}

// ------------------------------------------------------------ the card flow

/** The current card sale's attempts, the hub's word first. */
function saleAttempts() {
  const known = card.attempts(register);
  for (const attempt of acked.values()) {
    if (attempt.sale_key === card.current?.saleKey && !known.some((a) => a.id === attempt.id)) known.push(attempt);
  }
  return known.sort((a, b) => a.id - b.id);
}

/** Does on its own what needs no decision: start, fall back, finish. */
function advanceCard() {
  const sale = card.current;
  if (!sale || !register) return;
  if (register.session?.id !== sale.sessionId) {
    lastResult = "La sesión cambió mientras se cobraba la tarjeta: revisa el cobro con un supervisor.";
    card.clear();
    return;
  }
  const attempts = saleAttempts();
  const approved = attempts.find((a) => a.status === "APPROVED");
  if (approved) {
    finishCardSale(sale, approved);
    return;
  }
  const last = attempts.at(-1);
  if (sale.startKey) {
    if (attempts.some((a) => a.attempt_key === sale.startKey)) card.started();
    else sendStart();
    return;
  }
  if (last && (last.status === "FAILED" || last.status === "CANCELLED") && !sale.fellBackFrom.includes(last.id) && backupAfter(register, last)) {
    // The primary could not charge it: the same sale goes on on the backup at once.
    card.fellBack(last.id);
    card.again();
    sendStart();
  }
}

function sendStart() {
  const sale = card.current;
  if (!sale?.startKey || startInFlight === sale.startKey || !cardsLive()) return;
  if (live.send(startMessage(sale))) startInFlight = sale.startKey;
}

/** The catalog and the tip the venue offers with it. */
function showCatalog(catalog) {
  keys.show(catalog);
  if (catalog.tips) tips = catalog.tips;
  renderTicket();
  renderTip();
}

/** The approval pays the sale: into the outbox it goes, like any sale. */
function finishCardSale(sale, approved) {
  lastSaleKey = sale.saleKey;
  lastChange = null;
  const onCard = { method: sale.method, amount: sale.total, attempt_id: approved.id };
  if (sale.tip > 0) onCard.tip = sale.tip;
  const cash = sale.cash ?? 0;
  const payments = cash > 0 ? [{ method: "EFECTIVO", amount: cash }, onCard] : [onCard];
  const paid = { key: sale.saleKey, total: sale.total + cash, payments };
  if (sale.lines) paid.lines = sale.lines;
  queue.add(paid, sale.sessionId);
  repeatedCode = approved.code_repeats ? repeatedCodeWarning(approved) : "";
  lastResult = `Tarjeta aprobada en ${approved.provider} (código ${approved.authorization_code}). Registrando la venta…`;
  card.clear();
  acked = new Map();
  cardNotice = "";
  amountInput.focus();
}

const RETRY_START = new Set(["rate_limited", "database_unavailable", "database_timeout", "register_busy", "register_reloaded", "internal"]);
/** Refusals that say the sale already has an attempt the screen will show. */
const ATTEMPT_EXISTS = new Set(["sale_already_paid", "card_result_unknown", "card_attempt_in_progress"]);

function cardStartReply(message) {
  const key = message.id.slice("card:".length);
  if (startInFlight === key) startInFlight = null;
  if (card.current?.startKey !== key) return;
  if (message.type === "ack") {
    acked.set(message.attempt.id, message.attempt);
    card.started();
    cardNotice = "";
  } else if (RETRY_START.has(message.code)) {
    setTimeout(() => {
      sendStart();
      render();
    }, RETRY_AFTER_MS);
  } else if (ATTEMPT_EXISTS.has(message.code)) {
    card.started();
    cardNotice = message.message;
  } else {
    card.failedToStart(message.message);
  }
  advanceCard();
  render();
}

function resolveReply(message) {
  if (message.type === "error") {
    cardNotice = `No se pudo guardar: ${message.message}`;
  } else if (message.attempt?.code_repeats) {
    cardNotice = `⚠ ${repeatedCodeWarning(message.attempt)}`;
  } else {
    cardNotice = "";
  }
  render();
}

/** What the cashier is told of an approval whose typed code repeats one of the jornada's. */
function repeatedCodeWarning(attempt) {
  return `El código ${attempt.authorization_code} de ${attempt.provider} ya se usó esta jornada en el cobro #${attempt.code_repeats}: revisa el comprobante del terminal. Queda marcado para el supervisor.`;
}

function resolveAttempt(attempt, outcome, code, voucher = {}) {
  if (!live.send(resolveMessage(attempt, outcome, code, voucher))) {
    cardNotice = "Sin conexión: vuelve a intentarlo al reconectar.";
  } else {
    cardNotice = "";
  }
  render();
}

/** Asks for the terminal's authorization code; `then(code)` when confirmed. */
/**
 * Asks for the approval's code (and, optionally, what else the voucher
 * says: its reference, the card's brand and last four digits, the cuotas of
 * a credit card) for `attempt`; `then(code, voucher)` on confirm.
 */
function askCode(what, attempt, then) {
  const input = codeDialog.querySelector("#code-input");
  const error = codeDialog.querySelector("[data-error=code]");
  const fields = codeDialog.querySelector("form").elements;
  bind(codeDialog, "code-what").textContent = what;
  for (const name of ["code", "terminal_reference", "card_brand", "card_last4", "installments"]) fields[name].value = "";
  bind(codeDialog, "installments-field").hidden = attempt.method !== "CREDITO";
  error.textContent = "";
  input.setAttribute("aria-invalid", "false");
  codeDialog.onclose = null;
  codeDialog.querySelector("form").onsubmit = (event) => {
    if (event.submitter?.value !== "confirm") return;
    const refuse = (field, message) => {
      event.preventDefault();
      error.textContent = message;
      field.focus();
    };
    const code = readCode(input.value);
    if (!code) {
      input.setAttribute("aria-invalid", "true");
      return refuse(input, "El código tiene de 4 a 12 letras o números, como lo muestra el terminal.");
    }
    const voucher = {};
    const typed = (name) => fields[name].value.trim();
    if (typed("terminal_reference")) voucher.terminal_reference = typed("terminal_reference");
    if (typed("card_brand")) voucher.card_brand = typed("card_brand");
    if (typed("card_last4")) {
      if (!/^\d{4}$/.test(typed("card_last4"))) return refuse(fields.card_last4, "Los últimos 4 dígitos de la tarjeta son 4 dígitos.");
      voucher.card_last4 = typed("card_last4");
    }
    if (attempt.method === "CREDITO" && typed("installments")) {
      const cuotas = Number(typed("installments"));
      if (!Number.isInteger(cuotas) || cuotas < 1 || cuotas > 48) return refuse(fields.installments, "Las cuotas van de 1 a 48.");
      voucher.installments = cuotas;
    }
    codeDialog.onclose = () => then(code, voucher);
  };
  codeDialog.showModal();
  input.focus();
}

function switchToCash(total) {
  card.clear();
  acked = new Map();
  cardNotice = "";
  form.querySelector('input[name="method"][value="EFECTIVO"]').checked = true;
  amountInput.value = pesos(total);
  renderMethod();
  render();
  tenderedInput.focus();
}

function retryCard() {
  card.again();
  cardNotice = "";
  sendStart();
  render();
}

function cancelCard() {
  card.clear();
  acked = new Map();
  cardNotice = "";
  lastResult = "Cobro con tarjeta cancelado: no se registró ninguna venta.";
  render();
  amountInput.focus();
}

/** What the card panel shows now: tone, texts and the actions offered. */
function cardView(sale) {
  const attempts = saleAttempts();
  const last = attempts.at(-1);
  const advice = register?.provider;
  const action = (key, label, run, primary = false) => ({ key, label, run, primary });
  const unresolved = attempts.some((a) => UNRESOLVED.has(a.status));
  const giveUp = unresolved ? [] : [action("E", "Cobrar en efectivo", () => switchToCash(sale.total + (sale.cash ?? 0))), action("X", "Cancelar venta", cancelCard)];
  if (!last || sale.startKey) {
    if (sale.startError) {
      return { tone: "bad", title: "No se pudo iniciar el cobro", detail: sale.startError, actions: [action("T", "Intentar de nuevo", retryCard, true), ...giveUp] };
    }
    const provider = advice?.provider ?? "el terminal";
    const waiting = cardsLive() ? `Iniciando el cobro en ${provider}…` : "Sin conexión: el cobro se iniciará al reconectar.";
    return { tone: "wait", title: waiting, detail: advice?.reason ?? "", actions: cardsLive() ? [] : giveUp };
  }
  const approve = action("A", "Aprobado (ingresar código)", () =>
    askCode(`${last.provider} · ${pesos(last.amount)}`, last, (code, voucher) => resolveAttempt(last, "approved", code, voucher)), true);
  switch (last.status) {
    case "PENDING": {
      const backup = backupAfter(register, last);
      // Counted on this device's clock, never beyond the caja's limit.
      const limit = (new Date(last.deadline_at) - new Date(last.started_at)) / 1000;
      const left = Math.min(secondsUntil(last.deadline_at), Math.max(0, Math.ceil(limit)));
      return {
        tone: last.used_backup ? "backup" : "wait",
        step: last.used_backup ? `${METHOD_LABELS[last.method] ?? last.method} · respaldo: ${register.caja.payment_provider_primary} no pudo cobrar` : null,
        title: last.used_backup
          ? `Cobra con ${last.provider} en el celular de respaldo (${phones(advice?.backup_phones ?? 0)})`
          : `Esperando pago en ${last.provider}…`,
        // What happens when the time is up: a question first, never a switch.
        countdown: backup
          ? `Sin respuesta en ${left} s: ¿se cobró? y luego ${backup}`
          : `Sin respuesta en ${left} s: ¿se cobró?`,
        detail: "Pasa la tarjeta en el terminal. Cuando muestre el resultado, confírmalo aquí.",
        actions: [
          approve,
          action("R", "Rechazada", () => resolveAttempt(last, "declined")),
          action("F", "Falló el terminal", () => resolveAttempt(last, "failed")),
          // The customer pays otherwise: nothing charged, nothing against the provider.
          action("C", "Cancelar: paga de otra forma", () => {
            resolveAttempt(last, "not_charged");
            switchToCash(sale.total + (sale.cash ?? 0));
          }),
        ],
      };
    }
    case "TIMED_OUT":
    case "UNKNOWN":
      return {
        tone: "warn",
        title: last.status === "TIMED_OUT" ? `${last.provider} no respondió: ¿se cobró?` : `No se sabe si ${last.provider} cobró`,
        detail: `Mira el terminal antes de cobrar otra vez: nunca se cobra dos veces. ${sentence(last.detail)} Si no puedes saberlo, llama a un supervisor.`,
        actions: [
          action("A", "Sí, se cobró (ingresar código)", approve.run, true),
          action("N", "No se cobró", () => resolveAttempt(last, "not_charged")),
        ],
      };
    case "DECLINED":
      return {
        tone: "bad",
        title: "Tarjeta rechazada",
        detail: "El emisor rechazó la tarjeta (no es una falla del proveedor): pide otra tarjeta u otro medio de pago.",
        actions: [action("T", "Intentar con otra tarjeta", retryCard, true), ...giveUp],
      };
    default: {
      // FAILED or CANCELLED, with no backup to go on to.
      const word = last.status === "FAILED" ? "falló" : "no cobró";
      const why = advice?.no_card || !backupAfter(register, last) ? advice?.reason ?? "" : "";
      return {
        tone: "bad",
        title: `${last.provider} ${word}: cobra en efectivo u otro medio`,
        detail: `${sentence(last.detail)} ${why}`.trim(),
        actions: [...giveUp.slice(0, 1), action("T", "Intentar de nuevo con tarjeta", retryCard), ...giveUp.slice(1)],
      };
    }
  }
}

/** A detail from the hub as a sentence of its own. */
function sentence(text) {
  const trimmed = (text ?? "").trim();
  if (!trimmed) return "";
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function renderCard() {
  const sale = card.current;
  flow.hidden = !sale;
  form.hidden = Boolean(sale);
  clearInterval(ticking);
  ticking = null;
  if (!sale) return;
  const view = cardView(sale);
  flow.dataset.tone = view.tone;
  bind(flow, "card-step").textContent = view.step || `${METHOD_LABELS[sale.method] ?? sale.method} · venta con tarjeta`;
  bind(flow, "card-title").textContent = view.title;
  const tipped = sale.tip > 0 ? ` + propina ${pesos(sale.tip)} = ${pesos(sale.total + sale.tip)}` : "";
  bind(flow, "card-amount").textContent = (sale.cash > 0 ? `${pesos(sale.total)} + ${pesos(sale.cash)} en efectivo` : pesos(sale.total)) + tipped;
  bind(flow, "card-countdown").textContent = view.countdown ?? "";
  bind(flow, "card-detail").textContent = [view.detail, cardNotice].filter(Boolean).join(" ");
  const actions = bind(flow, "card-actions");
  const shown = view.actions.map((a) => a.key + a.label).join("|");
  if (actions.dataset.shown !== shown) {
    actions.dataset.shown = shown;
    actions.replaceChildren();
    for (const item of view.actions) {
      const button = el("button", item.label, item.primary ? "primary" : "");
      button.type = "button";
      button.dataset.key = item.key;
      button.append(" ", el("kbd", item.key));
      actions.append(button);
    }
    actions.querySelector("button")?.focus();
  }
  actions.onclick = (event) => {
    const key = event.target.closest("button")?.dataset.key;
    view.actions.find((a) => a.key === key)?.run();
  };
  if (view.countdown) ticking = setInterval(() => {
    const again = cardView(sale);
    bind(flow, "card-countdown").textContent = again.countdown ?? "";
  }, 500);
}

/** The session's card attempts outside the current sale that need someone. */
function renderOpenAttempts() {
  const current = card.current?.saleKey;
  const queued = new Set(queue.items.map((item) => item.id));
  const open = (register?.card_attempts ?? []).filter((a) =>
    a.sale_key !== current && !queued.has(a.sale_key) && (UNRESOLVED.has(a.status) || isOpenCharge(a)));
  const box = bind(root, "open-attempts");
  box.hidden = open.length === 0;
  const list = bind(root, "open-attempts-list");
  list.replaceChildren();
  for (const attempt of open) {
    const tipped = attempt.tip > 0 ? ` (propina ${pesos(attempt.tip)})` : "";
    const item = el("li", `#${attempt.id} · ${time(attempt.started_at)} · ${attempt.provider} · ${pesos(attempt.amount)}${tipped} · `);
    const button = (label, run) => {
      const b = el("button", label);
      b.type = "button";
      b.addEventListener("click", run);
      item.append(b);
    };
    if (attempt.approved_late) {
      // Charged although nobody expected it: the customer gets it back.
      item.classList.add("stranded");
      item.append(el("strong", "cobrado sin venta: un supervisor lo devuelve o lo da de baja desde el piso"));
    } else if (attempt.status === "APPROVED") {
      item.append(el("strong", "aprobado sin venta registrada "));
      button("Registrar la venta", () => {
        // The charge split as it was started: the sale, and its tip apart.
        const tip = attempt.tip ?? 0;
        const paid = { method: attempt.method, amount: attempt.amount - tip, attempt_id: attempt.id };
        if (tip > 0) paid.tip = tip;
        queue.add({ key: attempt.sale_key, total: attempt.amount - tip, payments: [paid] }, sessionId);
        render();
        flush();
      });
    } else {
      item.append(el("strong", `${attempt.status === "PENDING" ? "esperando al terminal" : "¿se cobró?"} `));
      button("Aprobado…", () => askCode(`#${attempt.id} ${attempt.provider} · ${pesos(attempt.amount)}`, attempt, (code, voucher) => resolveAttempt(attempt, "approved", code, voucher)));
      button("No se cobró", () => resolveAttempt(attempt, "not_charged"));
    }
    list.append(item);
  }
}

// ------------------------------------------------------------ the outbox

/** Tells the hub (and so the floor) how many sales this device holds unsent. */
function reportOutbox() {
  const pending = queue.pending().length;
  if (!live.connected || pending === outboxReported) return;
  if (live.send({ type: "outbox", pending })) outboxReported = pending;
}

/** This page can sell here no more: its unsent sales go to the hub by HTTP
 * (recorded if they still can be, else kept for a supervisor). */
function sessionGone(why) {
  gone ??= `${why}: ya no se puede vender en esta pantalla. Abre una sesión en «Abrir caja».`;
  render();
  handOverOutbox();
}

async function handOverOutbox() {
  if (handing || !queue.items.length) return;
  handing = true;
  const done = await handOver(queue);
  handing = false;
  lastResult = handedOverText(done);
  render();
  if (done.later) setTimeout(handOverOutbox, HAND_OVER_RETRY_MS);
}

function flush() {
  reportOutbox();
  if (!live.connected || inFlight || !register) return;
  const item = queue.next();
  if (!item) {
    report();
    return;
  }
  if (register.session?.id !== item.sale.session_id) {
    queue.flag(item.id, `Venta hecha sin conexión: la sesión #${item.sale.session_id} se cerró antes de que llegara al servidor.`);
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
    if (id === lastSaleKey) {
      // The hub's word on the change is the one handed over.
      lastResult = `Venta registrada: ${pesos(message.total_charged)}${message.tip > 0 ? ` + propina ${pesos(message.tip)}` : ""}`;
      // A typed card code the jornada already had: the hub warns, once
      // (in the sale's answer, or in the approval the sale was paid with).
      const warnings = [...(message.warnings ?? []), ...(repeatedCode ? [repeatedCode] : [])];
      repeatedCode = "";
      if (warnings.length) lastResult += ` · ⚠ ${warnings.join(" ")}`;
      lastChange = message.change > 0 ? message.change : lastChange;
    }
  } else if (FINAL_ERRORS.has(message.code)) {
    queue.flag(id, message.message);
    lastResult = `Venta no registrada: ${message.message}`;
    if (id === lastSaleKey) lastChange = null;
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

/** The tip typed (0 when none), or null when it is not one. */
function readTip(total, method) {
  if (tips.mode === "off" || tipInput.value.trim() === "") return 0;
  const tip = parsePesos(tipInput.value);
  if (tip === null) {
    showError("tip", "Ingresa la propina en pesos, por ejemplo 1.000.");
    return null;
  }
  if (method === "EFECTIVO" && tip % 10 !== 0) {
    showError("tip", "En efectivo, la propina va en múltiplos de $10.");
    return null;
  }
  const most = Math.floor((total * tips.limit_percent) / 100);
  if (tip > most) {
    showError("tip", `La propina supera el ${tips.limit_percent} % de la venta (${pesos(most)} como máximo): ¿un 0 de más?`);
    return null;
  }
  return tip;
}

/** The suggested tip: the venue's percentage, rounded to the ten as cash is. */
function suggestedTip(total) {
  return cashRounded(Math.floor((total * tips.percent) / 100));
}

function readSale() {
  ["amount", "tendered", "cash_part", "provider", "authorization_code", "tip"].forEach((field) => showError(field, ""));
  const total = parsePesos(amountInput.value);
  if (!total) {
    showError("amount", "Ingresa el monto en pesos, por ejemplo 5.000.");
    return null;
  }
  if (total > SALE_MAX) {
    showError("amount", `El máximo por venta en este local es ${pesos(SALE_MAX)}: revisa el monto (¿un 000 de más?).`);
    return null;
  }
  const method = selectedMethod();
  const payment = { method, amount: total };
  // The tip rides on the payment of the method chosen (rule 19).
  const tip = readTip(total, method);
  if (tip === null) return null;
  if (tip > 0) payment.tip = tip;
  if (method === "EFECTIVO" && tenderedInput.value.trim() !== "") {
    const tendered = parsePesos(tenderedInput.value);
    if (tendered === null) {
      showError("tendered", "Ingresa lo recibido en pesos, por ejemplo 10.000.");
      return null;
    }
    if (tendered < cashRounded(total) + tip) {
      showError("tendered", `Lo recibido no alcanza: se cobran ${pesos(cashRounded(total) + tip)}.`);
      return null;
    }
    payment.tendered = tendered;
  }
  // Mixed tender: part in cash, the rest on the card.
  let cashPart = null;
  if (isCard(method) && cashPartInput.value.trim() !== "") {
    cashPart = parsePesos(cashPartInput.value);
    if (!cashPart || cashPart >= total) {
      showError("cash_part", `La parte en efectivo va en pesos enteros, de $1 a ${pesos(total - 1)}; el resto se cobra con tarjeta.`);
      return null;
    }
    payment.amount = total - cashPart;
  }
  if (isCard(method) && !cardsLive()) {
    // Offline: charged on the standalone terminal, confirmed with its code.
    const provider = form.elements.provider?.value;
    if (!provider) {
      showError("provider", "Elige el proveedor con que se cobró la tarjeta.");
      return null;
    }
    const code = readCode(form.elements.authorization_code.value);
    if (!code) {
      showError("authorization_code", "Anota el código de autorización del terminal (4 a 12 letras o números).");
      return null;
    }
    payment.provider = provider;
    payment.authorization_code = code;
  }
  const payments = cashPart ? [{ method: "EFECTIVO", amount: cashPart }, payment] : [payment];
  if (ticket.isEmpty()) return { key: newKey(), total, payments };
  const unavailable = ticket.unavailable();
  if (unavailable) {
    showError("amount", `«${unavailable.name}» ${unavailable.unavailable}: quítalo del ticket.`);
    return null;
  }
  return { key: newKey(), total, payments, lines: ticket.request() };
}

/** A large amount is shown big before it is charged: an extra "000" is
 * caught here, not on the closing sheet. */
function askToConfirm(total) {
  bind(confirmDialog, "confirm-amount").textContent = pesos(total);
  bind(confirmDialog, "confirm-words").textContent = `Es más de ${pesos(CONFIRM_ABOVE)}: revisa que no sobre un 000.`;
  bind(confirmDialog, "confirm-yes").textContent = `Sí, cobrar ${pesos(total)}`;
  confirmDialog.returnValue = "";
  confirmDialog.onclose = () => {
    if (confirmDialog.returnValue === "confirm") {
      confirmedTotal = total;
      form.requestSubmit();
    } else {
      amountInput.focus();
      amountInput.select();
    }
  };
  confirmDialog.showModal();
  confirmDialog.querySelector("button[value=cancel]").focus();
}

/** "Efectivo + Débito": a sale's methods as the cashier reads them. */
function methodsOf(sale) {
  return sale.payments.map((p) => METHOD_LABELS[p.method] ?? p.method).join(" + ");
}

function isCard(method) {
  return method === "DEBITO" || method === "CREDITO";
}

/** What the cashier must know about the caja's link to the database, if anything. */
function stuckNotice() {
  if (register?.health?.status !== "stuck") return null;
  return `La caja no responde desde las ${time(register.health.since)} (${register.health.reason}): las ventas quedan guardadas en este equipo y se enviarán solas.`;
}

/** Why this screen may not take a sale now, if it may not. */
function refusal() {
  if (gone) return gone;
  if (!register) return null; // not known yet (offline from the start): queue it
  if (!register.session) return "La sesión de esta caja se cerró: no se pueden registrar más ventas.";
  if (register.session.id !== sessionId) return "Esta caja tiene otra sesión abierta: recarga la página.";
  if (register.caja.operational_status !== "ACTIVE") return "Caja en mantención: no se pueden registrar ventas.";
  return null;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const refused = live.connected || gone ? refusal() : null;
  if (refused) {
    lastResult = refused;
    render();
    return;
  }
  const sale = readSale();
  if (!sale) return;
  if (sale.total > CONFIRM_ABOVE && confirmedTotal !== sale.total) {
    askToConfirm(sale.total);
    return;
  }
  confirmedTotal = null;
  const charged = sale.payments.at(-1);
  if (isCard(charged.method) && cardsLive()) {
    // Online, a card is charged through the hub: the card flow takes over
    // (with the cash part of a mixed tender kept for the sale).
    card.begin(charged.amount, charged.method, sessionId, sale.total - charged.amount, sale.lines ?? null, charged.tip ?? 0);
    lastResult = "";
    form.reset();
    ticket.clear();
    renderTicket();
    restoreProvider();
    renderMethod();
    advanceCard();
    render();
    return;
  }
  queue.add(sale, sessionId);
  lastSaleKey = sale.key;
  const cash = sale.payments[0];
  lastChange = cash.tendered !== undefined ? cash.tendered - cashRounded(cash.amount) - (cash.tip ?? 0) : null;
  lastResult = live.connected ? "Enviando venta…" : "Sin conexión: la venta quedó guardada y se enviará al reconectar.";
  form.reset();
  ticket.clear();
  renderTicket();
  restoreProvider();
  renderMethod();
  render();
  flush();
  amountInput.focus();
});

/** The next sale starts: the last one's result and change give way. */
function startNextSale() {
  if (lastChange === null && !lastResult) return;
  lastChange = null;
  lastResult = "";
  renderDone();
}

function typeDigits(key) {
  if (amountInput.readOnly) return; // the ticket's total, not typed
  startNextSale();
  const digits = amountInput.value.replace(/\D/g, "");
  const next = key === "back" ? digits.slice(0, -1) : (digits + key).replace(/^0+/, "");
  amountInput.value = next ? pesos(Number(next)) : "";
  renderHint();
}

form.querySelector(".keypad").addEventListener("click", (event) => {
  const key = event.target.closest("button")?.dataset.key;
  if (key) typeDigits(key);
});

for (const input of [amountInput, tenderedInput, cashPartInput, tipInput]) {
  input.addEventListener("input", (event) => {
    if (input === amountInput) startNextSale();
    regroupAsTyped(input, event);
    renderHint();
  });
}

form.addEventListener("change", (event) => {
  if (event.target.name !== "method") return;
  // Choosing how the next sale is paid starts it: the last VUELTO goes.
  startNextSale();
  renderMethod();
});

document.addEventListener("keydown", (event) => {
  if (codeDialog.open || voidDialog.open || movementDialog.open || entryDialog.open) return;
  if (card.current) {
    // The card panel's actions answer to their letter.
    const key = event.key.length === 1 ? event.key.toUpperCase() : null;
    const button = key && flow.querySelector(`[data-bind=card-actions] button[data-key="${key}"]`);
    if (button && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      button.click();
    }
    return;
  }
  const methods = { F1: "EFECTIVO", F2: "DEBITO", F3: "CREDITO", F4: "TRANSFERENCIA" };
  if (methods[event.key]) {
    event.preventDefault();
    form.querySelector(`input[name="method"][value="${methods[event.key]}"]`).checked = true;
    renderMethod();
  } else if (event.key === "Escape") {
    form.reset();
    ticket.clear();
    renderTicket();
    restoreProvider();
    renderMethod();
  }
});

/**
 * Asks for one value (a free amount, a quantity) in a small dialog;
 * `accept(text)` answers an error to show, or null once taken.
 */
function askEntry(title, label, value, accept) {
  bind(entryDialog, "entry-title").textContent = title;
  bind(entryDialog, "entry-label").textContent = label;
  const input = entryDialog.querySelector("input");
  input.value = value === "$0" ? "" : value;
  input.placeholder = value === "$0" ? "$0" : "";
  const error = bind(entryDialog, "entry-error");
  error.textContent = "";
  entryDialog.returnValue = "";
  entryDialog.querySelector("form").onsubmit = (event) => {
    if (event.submitter?.value !== "confirm") return;
    const refused = accept(input.value);
    if (refused) {
      event.preventDefault();
      error.textContent = refused;
      input.focus();
    }
  };
  entryDialog.showModal();
  input.focus();
  input.select();
}

bind(root, "ticket-clear").addEventListener("click", () => {
  ticket.clear();
  renderTicket();
  amountInput.focus();
});

// ------------------------------------------------------------ rendering

/** The ticket, and the amount field as its total while it has lines. */
/** The tip offered: the suggestion's key (percent), or the amount typed (free). */
function renderTip() {
  bind(root, "tip").hidden = tips.mode === "off";
  if (tips.mode === "off") tipInput.value = "";
  tipInput.hidden = tips.mode !== "free";
  bind(root, "tip-caption").hidden = tipInput.hidden;
  const toggle = bind(root, "tip-toggle");
  toggle.hidden = tips.mode !== "percent";
  const total = parsePesos(amountInput.value);
  const suggested = total ? suggestedTip(total) : 0;
  const on = tips.mode === "percent" && suggested > 0 && parsePesos(tipInput.value) === suggested;
  // The suggestion follows the ticket: a tip taken for another total goes.
  if (tips.mode === "percent" && !on) tipInput.value = "";
  toggle.setAttribute("aria-pressed", on ? "true" : "false");
  toggle.textContent = suggested > 0 ? `${on ? "✓" : "+"} ${tips.percent} % ${pesos(suggested)}` : `+ ${tips.percent} %`;
  toggle.disabled = !suggested;
  toggle.setAttribute("aria-label", on ? `Propina de ${pesos(suggested)} incluida: tocar para quitarla` : `Agregar propina de ${tips.percent} %`);
}

bind(root, "tip-toggle").addEventListener("click", () => {
  const total = parsePesos(amountInput.value);
  if (!total) return;
  const suggested = suggestedTip(total);
  tipInput.value = parsePesos(tipInput.value) === suggested ? "" : pesos(suggested).replace("$", "");
  showError("tip", "");
  renderHint();
});

function renderTicket() {
  ticket.save();
  keys.renderTicket();
  const on = !ticket.isEmpty();
  form.classList.toggle("has-ticket", on);
  amountInput.readOnly = on;
  if (on) amountInput.value = pesos(ticket.total());
  else if (ticketShown) amountInput.value = "";
  ticketShown = on;
  // What the page scrolls into view (a focused field) is not left under
  // the ticket, which stays at the bottom of the screen.
  document.documentElement.style.scrollPaddingBottom = on ? `${bind(root, "ticket").offsetHeight}px` : "";
  renderHint();
}

function renderMethod() {
  const method = selectedMethod();
  form.querySelector(".card-offline").hidden = !(isCard(method) && !cardsLive());
  form.querySelector(".cash-only:not(.card-split)").hidden = method !== "EFECTIVO";
  form.querySelector(".card-split").hidden = !isCard(method);
  renderHint();
}

/** Chile's bills, smallest first: what a customer hands over. */
const BILLS = [1_000, 2_000, 5_000, 10_000, 20_000];

/** What the customer is likely to hand over for `charged`: the exact
 * amount, then the next bills (or sums of $20.000) above it, three at most. */
function quickTenders(charged) {
  const above = new Set();
  for (const bill of BILLS) {
    const next = Math.ceil(charged / bill) * bill;
    if (next > charged) above.add(next);
  }
  return [charged, ...[...above].sort((a, b) => a - b).slice(0, 3)];
}

/** One touch charges cash with what was handed over ("Exacto" or a bill). */
function renderQuickTender() {
  const box = bind(root, "quick-tender");
  const total = parsePesos(amountInput.value);
  box.replaceChildren();
  if (selectedMethod() !== "EFECTIVO" || !total || total > SALE_MAX) return;
  const charged = cashRounded(total) + typedTip();
  quickTenders(charged).forEach((amount, i) => {
    const button = el("button", i === 0 ? `Exacto ${pesos(amount)}` : pesos(amount));
    button.type = "button";
    button.dataset.tender = amount;
    button.addEventListener("click", () => {
      tenderedInput.value = pesos(amount).replace("$", "");
      form.requestSubmit();
    });
    box.append(button);
  });
}

/** The tip as typed, 0 when none or not a number (the sale says why). */
function typedTip() {
  return tips.mode === "off" ? 0 : parsePesos(tipInput.value) ?? 0;
}

function renderHint() {
  renderTip();
  renderQuickTender();
  const split = bind(root, "split-hint");
  const whole = parsePesos(amountInput.value);
  const part = parsePesos(cashPartInput.value);
  split.textContent = isCard(selectedMethod()) && whole && part && part < whole
    ? `Con tarjeta: ${pesos(whole - part)}; en efectivo se cobran ${pesos(cashRounded(part))}.`
    : "";
  const hint = bind(root, "charge-hint");
  const total = parsePesos(amountInput.value);
  if (selectedMethod() !== "EFECTIVO" || !total) {
    hint.textContent = "";
    return;
  }
  const charged = cashRounded(total);
  const tip = typedTip();
  const tendered = parsePesos(tenderedInput.value);
  let text = charged === total ? `Se cobran ${pesos(charged)}` : `Se cobran ${pesos(charged)} (redondeo del efectivo)`;
  text += tip > 0 ? ` + propina ${pesos(tip)} = ${pesos(charged + tip)}.` : ".";
  if (tendered !== null && tendered >= charged + tip) text += ` Vuelto: ${pesos(tendered - charged - tip)}.`;
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
  const hidden = "oculto (conteo ciego)";
  const sum = Object.values(session.payment_totals).reduce((a, b) => a + b, 0);
  row("Total vendido", caja.blind_count ? hidden : pesos(sum));
  row("Ventas", session.ticket_count);
  for (const [method, label] of Object.entries(METHOD_LABELS)) {
    const amount = session.payment_totals[method] ?? 0;
    row(label, method === "EFECTIVO" && caja.blind_count ? hidden : pesos(amount));
  }
  const tipped = Object.values(session.tip_totals ?? {}).reduce((a, b) => a + b, 0);
  // Blind, the cash tips are the drawer's secret (the hub sends none).
  if (tipped > 0 && !caja.blind_count) row("Propinas (no son venta)", pesos(tipped));
  row(`Pagos con tarjeta en ${caja.payment_provider_primary} (principal)`, session.primary_count);
  if (caja.payment_provider_backup) row(`Pagos con tarjeta en ${caja.payment_provider_backup} (respaldo)`, session.backup_count);
}

function renderRecent(sales) {
  const list = bind(root, "recent");
  list.replaceChildren();
  // Sales still on this device come first, marked as waiting.
  for (const item of [...queue.pending()].reverse()) {
    const row = el("li", "", "waiting");
    row.append(
      el("span", "—", "number"),
      el("span", `${time(item.queuedAt)} · ${pesos(item.sale.total)} · ${methodsOf(item.sale)}`, "what"),
      el("span", live.connected ? "enviando…" : "esperando conexión", "status warn"),
    );
    list.append(row);
  }
  if (!sales.length && !list.children.length) list.append(el("li", "Sin ventas todavía.", "empty"));
  for (const sale of sales) {
    const methods = sale.methods.map((m) => METHOD_LABELS[m] ?? m).join(" + ");
    const provider = sale.provider ? ` · ${sale.provider}${sale.used_backup ? " (respaldo)" : ""}` : "";
    const row = el("li", "", sale.voided ? "voided" : "");
    row.dataset.sale = sale.id;
    const tip = sale.tip > 0 ? ` + propina ${pesos(sale.tip)}` : "";
    row.append(el("span", `N.º ${sale.number}`, "number"), el("span", `${time(sale.at)} · ${pesos(sale.total_charged)}${tip} · ${methods}${provider}`, "what"));
    // Its ticket, to print or reprint (a tab of its own: the POS stays).
    const ticketLink = el("a", "Ticket", "button ticket-link");
    ticketLink.href = `/caja/session/${sessionId}/ventas/${sale.id}/ticket`;
    ticketLink.target = "_blank";
    ticketLink.rel = "noopener";
    row.append(ticketLink);
    if (sale.voided) {
      row.append(el("span", "ANULADA", "status off"));
    } else {
      const button = el("button", "Anular", "void");
      button.type = "button";
      button.disabled = !live.connected;
      button.title = live.connected ? "Anular esta venta (autoriza un supervisor)" : "Sin conexión";
      button.addEventListener("click", () => askVoid(sale));
      row.append(button);
    }
    list.append(row);
  }
}

function renderMovements(movements) {
  const list = bind(root, "movements");
  list.replaceChildren();
  if (!movements.length) list.append(el("li", "Sin retiros ni ingresos.", "empty"));
  for (const movement of movements) {
    const kind = movement.kind === "RETIRO" ? "Retiro" : "Ingreso";
    // A blind count does not show what was moved (it adds up to the expected cash).
    const amount = movement.amount === undefined ? "" : ` · ${pesos(movement.amount)}`;
    list.append(el("li", `${time(movement.at)} · ${kind}${amount} · ${movement.reason}`));
  }
  bind(root, "movement-open").disabled = !live.connected;
}

// ------------------------------------------------------------ voids and cash movements

/** Shows `errors` ({field: message}) in a dialog's form. */
function showDialogErrors(dialog, errors) {
  for (const target of dialog.querySelectorAll("[data-error]")) {
    const message = errors[target.dataset.error] ?? "";
    target.textContent = message;
    const input = dialog.querySelector(`[name="${target.dataset.error}"]`);
    if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
  }
}

/**
 * Opens `dialog`; on confirm, `send(form)` resolves to null (done: the
 * dialog closes) or to {field: message} shown beside the fields.
 */
function openDialog(dialog, send) {
  const dialogForm = dialog.querySelector("form");
  dialogForm.reset();
  showDialogErrors(dialog, {});
  let sending = false;
  dialogForm.onsubmit = async (event) => {
    if (event.submitter?.value !== "confirm") return;
    event.preventDefault();
    if (sending) return;
    sending = true;
    const errors = await send(dialogForm);
    sending = false;
    if (errors) showDialogErrors(dialog, errors);
    else dialog.close();
  };
  dialog.showModal();
  dialogForm.querySelector("input:not([type=radio])")?.focus();
}

/** An error answer as {field: message}; the form's own slot when no field is named. */
function answerErrors(answer) {
  const field = answer.body.field && answer.body.field !== "key" ? answer.body.field : "form";
  return { [field]: answer.body.message };
}

function askVoid(sale) {
  bind(voidDialog, "void-what").textContent = `Venta N.º ${sale.number} · ${time(sale.at)} · ${pesos(sale.total_charged)}`;
  bind(voidDialog, "signature").hidden = viewerSigns;
  // One key per void asked for: a retry after a lost answer voids once.
  const key = newKey();
  openDialog(voidDialog, async (fields) => {
    const reason = fields.elements.reason.value.trim();
    if (!reason) return { reason: "Indica el motivo de la anulación." };
    const body = { key, reason };
    if (!viewerSigns) {
      body.supervisor = fields.elements.supervisor.value.trim();
      body.pin = fields.elements.pin.value.trim();
      if (!body.supervisor) return { supervisor: "Elige (o escribe) el supervisor que autoriza." };
      if (!/^\d{4,12}$/.test(body.pin)) return { pin: "Escribe el PIN del supervisor (4 a 12 números)." };
    }
    const answer = await postJson(`/api/cajas/${registerId}/sales/${sale.id}/void`, body);
    if (!answer.ok) return answerErrors(answer);
    lastResult = `Venta N.º ${sale.number} anulada.`;
    lastChange = null;
    render();
    return null;
  });
}

function askMovement() {
  const key = newKey();
  const amount = movementDialog.querySelector("[name=amount]");
  amount.oninput = (event) => regroupAsTyped(amount, event);
  openDialog(movementDialog, async (fields) => {
    const errors = {};
    const value = parsePesos(fields.elements.amount.value);
    if (!value) errors.amount = "Ingresa el monto en pesos, por ejemplo 20.000.";
    const reason = fields.elements.reason.value.trim();
    if (!reason) errors.reason = "Indica el motivo.";
    if (Object.keys(errors).length) return errors;
    const kind = fields.elements.kind.value;
    const answer = await postJson(`/api/cajas/${registerId}/cash-movements`, { key, kind, amount: value, reason });
    if (!answer.ok) return answerErrors(answer);
    lastResult = `${kind === "RETIRO" ? "Retiro" : "Ingreso"} de ${pesos(value)} registrado.`;
    lastChange = null;
    render();
    return null;
  });
}

bind(root, "movement-open").addEventListener("click", askMovement);

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
    const where = item.flagged.reportError
      ? ` (guardada solo en este equipo: ${item.flagged.reportError})`
      : " (guardada en este equipo; se enviará al supervisor al reconectar)";
    list.append(el("li", `${time(item.queuedAt)} · ${pesos(item.sale.total)} · ${methodsOf(item.sale)} — ${item.flagged.reason}${where}`));
  }
}

/** The last sale's outcome, and the change to hand over in large print. */
function renderDone() {
  bind(root, "sale-result").textContent = lastResult;
  const change = bind(root, "sale-change");
  change.hidden = lastChange === null;
  change.textContent = lastChange === null ? "" : `VUELTO ${pesos(lastChange)}`;
  const tone = lastResult.startsWith("Venta no registrada") ? "bad" : lastResult.includes("⚠") ? "warn" : "ok";
  bind(root, "sale-done").dataset.tone = tone;
}

function render() {
  reportOutbox();
  renderOutbox();
  renderCard();
  renderOpenAttempts();
  renderMethod();
  renderDone();
  const banner = bind(root, "banner");
  const refused = refusal();
  const notice = refused ?? stuckNotice();
  banner.hidden = !notice;
  banner.textContent = notice ?? "";
  bind(root, "charge").disabled = Boolean(refused) && (live.connected || Boolean(gone));
  bind(root, "ticket-charge").disabled = bind(root, "charge").disabled;
  if (!register) return;
  bind(root, "caja-name").textContent = register.caja.name;
  renderProviders();
  const advice = bind(root, "provider-advice");
  advice.textContent = register.provider.backup
    ? `Usa ${register.provider.provider} (respaldo) desde las ${time(register.provider.since)}: ${register.provider.reason}`
    : `Usa ${register.provider.provider}. ${sentence(register.provider.reason)}`;
  advice.classList.toggle("on-backup", register.provider.backup);
  const session = register.session;
  if (session && session.id === sessionId) {
    bind(root, "opened-at").textContent = time(session.opened_at);
    renderTotals(session, register.caja);
    renderRecent(register.recent_sales);
    renderMovements(register.recent_movements ?? []);
  }
}

render();
renderTicket(); // a ticket rung up before a reload
if (!card.current) amountInput.focus();
