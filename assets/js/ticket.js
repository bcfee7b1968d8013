// The ticket being rung up: lines of products (or typed amounts), each
// with its quantity, adding up to the sale's total. Whole pesos only.

export const MAX_QUANTITY = 999;
export const FREE_AMOUNT = "Monto libre";

export class Ticket {
  /** The ticket of caja `registerId`, kept on this device across reloads. */
  constructor(registerId) {
    this.storageKey = `cajahub.pos.${registerId}.ticket`;
    this.lines = this.load();
  }

  load() {
    try {
      const stored = JSON.parse(localStorage.getItem(this.storageKey) ?? "[]");
      return Array.isArray(stored) ? stored.filter((line) => Number.isInteger(line?.unit_price) && Number.isInteger(line?.quantity)) : [];
    } catch {
      return [];
    }
  }

  /** Keeps the ticket as it is now (a reload, a tab closed by mistake). */
  save() {
    if (this.lines.length) localStorage.setItem(this.storageKey, JSON.stringify(this.lines));
    else localStorage.removeItem(this.storageKey);
  }

  isEmpty() {
    return this.lines.length === 0;
  }

  /** Adds `quantity` of `product` (a key of the catalog): to its line when it has one. */
  add(product, quantity = 1) {
    const line = this.lines.find((l) => l.product_id === product.id);
    if (line) {
      line.quantity = Math.min(MAX_QUANTITY, line.quantity + quantity);
    } else {
      this.lines.push({ product_id: product.id, name: product.short_name || product.name, unit_price: product.price, quantity: Math.min(MAX_QUANTITY, quantity) });
    }
  }

  /** A line of an amount typed by the cashier. */
  addAmount(amount) {
    this.lines.push({ amount, name: FREE_AMOUNT, unit_price: amount, quantity: 1 });
  }

  /** Changes line `index` by `delta` units; a line at zero goes. */
  step(index, delta) {
    const line = this.lines[index];
    if (!line) return;
    line.quantity = Math.min(MAX_QUANTITY, line.quantity + delta);
    if (line.quantity < 1) this.lines.splice(index, 1);
  }

  /** Sets line `index` to `quantity` units (1 to 999). */
  setQuantity(index, quantity) {
    const line = this.lines[index];
    if (line) line.quantity = Math.max(1, Math.min(MAX_QUANTITY, quantity));
  }

  remove(index) {
    this.lines.splice(index, 1);
  }

  clear() {
    this.lines = [];
  }

  total() {
    return this.lines.reduce((sum, line) => sum + line.unit_price * line.quantity, 0);
  }

  /**
   * Follows the catalog: a line's product takes its new price and name
   * (nothing is paid yet), and one no longer sold here, or sold out, is
   * marked so the cashier sees it before charging.
   */
  follow(products) {
    for (const line of this.lines) {
      if (line.product_id === undefined) continue;
      const product = products.get(line.product_id);
      line.unavailable = !product ? "ya no se vende en esta caja" : product.sold_out ? "agotado" : null;
      if (product) {
        line.unit_price = product.price;
        line.name = product.short_name || product.name;
      }
    }
  }

  /** The first line that cannot be sold, if any. */
  unavailable() {
    return this.lines.find((line) => line.unavailable) ?? null;
  }

  /** The lines as the hub reads them (a product's unit price as shown). */
  request() {
    return this.lines.map((line) =>
      line.product_id !== undefined
        ? { product_id: line.product_id, quantity: line.quantity, unit_price: line.unit_price }
        : { amount: line.amount, quantity: line.quantity },
    );
  }
}
