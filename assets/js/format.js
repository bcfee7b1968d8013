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
 * read 50000. Returns null for anything else (decimals included: pesos have none).
 */
export function parsePesos(text) {
  const cleaned = String(text ?? "").replace(/[$\s.]/g, "");
  if (!/^\d{1,13}$/.test(cleaned)) return null;
  return Number.parseInt(cleaned, 10);
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
