// Pesos and times as a Chilean venue reads them: $50.000, 23:45 (Santiago).

const ZONE = "America/Santiago";
const clock = new Intl.DateTimeFormat("es-CL", { timeZone: ZONE, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

/** Integer pesos as "$50.000" (never a float: amounts are whole pesos). */
export function pesos(amount) {
  const n = Math.trunc(Number(amount) || 0);
  const digits = Math.abs(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  return (n < 0 ? "-$" : "$") + digits;
}

/**
 * What a cashier typed, as whole pesos: "$50.000", "50000" and "50 000" all
 * read 50000. Returns null for anything else: "1.5" or "1,5" are not pesos
 * (pesos have no decimals, and a dot only groups thousands).
 */
export function parsePesos(text) {
  const typed = String(text ?? "").trim().replace(/^\$\s*/, "");
  if (!/^(\d{1,3}([.\s]\d{3})+|\d{1,13})$/.test(typed)) return null;
  const digits = typed.replace(/[.\s]/g, "");
  return digits.length > 13 ? null : Number.parseInt(digits, 10);
}

/**
 * Keeps a money field readable as it is typed ("$12.345"), without guessing:
 * a digit added to or taken from a formatted amount is regrouped, anything
 * else ("1.5", "1,5") is left as typed for the form to refuse.
 */
export function regroupAsTyped(input, event) {
  const typed = input.value.trim().replace(/^\$\s*/, "");
  const groups = typed.split(".");
  const last = groups.at(-1).length;
  const nudged = event?.inputType?.startsWith("delete") ? 2 : 4;
  const grouped = groups.length === 1 || (groups.slice(1, -1).every((g) => g.length === 3) && (last === 3 || last === nudged));
  if (!/^[\d.]*$/.test(typed) || !grouped) return;
  const digits = typed.replace(/\./g, "").replace(/^0+/, "").slice(0, 13);
  input.value = digits ? pesos(Number(digits)) : "";
}

/** "23:45" in the venue's time zone. */
export function time(iso) {
  return iso ? clock.format(new Date(iso)) : "—";
}

/** "hace 3 min" from an ISO time to now. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "—";
  const minutes = Math.floor((now - new Date(iso).getTime()) / 60000);
  if (minutes < 1) return "hace menos de 1 min";
  if (minutes < 60) return `hace ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `hace ${hours} h ${minutes % 60} min`;
}

export const METHOD_LABELS = {
  EFECTIVO: "Efectivo",
  DEBITO: "Débito",
  CREDITO: "Crédito",
  TRANSFERENCIA: "Transferencia",
};

export const STATUS_LABELS = {
  ACTIVE: "Activa",
  MAINTENANCE: "En mantención",
  DISABLED: "Deshabilitada",
};

/** Sets the text of the element marked data-bind=name inside root. */
export function bind(root, name) {
  return root.querySelector(`[data-bind="${name}"]`);
}

/** Makes an element with text content (never HTML: values come from users). */
export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}
