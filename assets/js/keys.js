// The POS's product keys: the caja's catalog by category, a search on
// larger screens, the quantity key, and the ticket they fill.
import { inkOn } from "./colour.js";
import { bind, el, pesos } from "./format.js";

export class Keys {
  /**
   * `root`: the keys' section; `ticketRoot`: the ticket's. `onPick(product)`
   * and `onChange()` are called as the cashier taps.
   */
  constructor(root, ticketRoot, ticket, { onPick, onChange, onFreeAmount, onQuantity }) {
    this.root = root;
    this.ticketRoot = ticketRoot;
    this.ticket = ticket;
    this.products = new Map();
    this.categories = [];
    this.category = null; // the category shown; null: all
    this.search = "";
    this.handlers = { onPick, onChange, onFreeAmount, onQuantity };
    root.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.dataset.product) {
        const product = this.products.get(Number(button.dataset.product));
        if (product && !product.sold_out) this.handlers.onPick(product);
      } else if (button.dataset.category !== undefined) {
        this.category = button.dataset.category === "" ? null : Number(button.dataset.category);
        this.renderKeys();
      } else if (button.dataset.action === "free-amount") {
        this.handlers.onFreeAmount();
      }
    });
    bind(root, "product-search").addEventListener("input", (event) => {
      this.search = event.target.value.trim().toLocaleLowerCase("es-CL");
      this.renderKeys();
    });
    ticketRoot.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-line]");
      if (!button) return;
      const index = Number(button.dataset.line);
      if (button.dataset.quantity !== undefined) {
        this.handlers.onQuantity(index);
        return;
      }
      if (button.dataset.step) this.ticket.step(index, Number(button.dataset.step));
      else this.ticket.remove(index);
      this.handlers.onChange();
    });
  }

  /** The caja's catalog, as the hub sends it. */
  show(catalog) {
    this.products = new Map((catalog?.products ?? []).map((p) => [p.id, p]));
    this.categories = catalog?.categories ?? [];
    if (this.category !== null && !this.categories.some((c) => c.id === this.category)) this.category = null;
    this.root.hidden = this.products.size === 0;
    this.ticket.follow(this.products);
    this.renderCategories();
    this.renderKeys();
  }

  renderCategories() {
    const tabs = bind(this.root, "categories");
    const chip = (id, name) => {
      const button = el("button", name, "category");
      button.type = "button";
      button.dataset.category = id ?? "";
      button.setAttribute("aria-pressed", String(this.category === id));
      return button;
    };
    tabs.replaceChildren(chip(null, "Todos"), ...this.categories.map((c) => chip(c.id, c.name)));
  }

  renderKeys() {
    for (const tab of bind(this.root, "categories").children) {
      const id = tab.dataset.category === "" ? null : Number(tab.dataset.category);
      tab.setAttribute("aria-pressed", String(this.category === id));
    }
    const shown = [...this.products.values()].filter(
      (p) =>
        (this.search ? p.name.toLocaleLowerCase("es-CL").includes(this.search) : this.category === null || p.category_id === this.category),
    );
    const keys = shown.map((product) => {
      const key = el("button", "", "product-key");
      key.type = "button";
      key.dataset.product = product.id;
      key.append(el("span", product.short_name || product.name, "key-name"), el("span", product.sold_out ? "Agotado" : pesos(product.price), "key-price"));
      key.title = product.name;
      if (product.sold_out) {
        key.classList.add("sold-out");
        key.setAttribute("aria-disabled", "true");
      } else {
        key.style.background = product.colour;
        key.style.color = inkOn(product.colour);
      }
      return key;
    });
    const free = el("button", "", "product-key free-amount");
    free.type = "button";
    free.dataset.action = "free-amount";
    free.append(el("span", "Monto libre", "key-name"), el("span", "otro monto", "key-price"));
    bind(this.root, "keys").replaceChildren(...keys, free);
  }

  renderTicket() {
    const list = bind(this.ticketRoot, "ticket-lines");
    const rows = this.ticket.lines.map((line, index) => {
      const row = el("li", "", line.unavailable ? "unavailable" : "");
      const minus = el("button", "−", "step");
      minus.type = "button";
      minus.dataset.line = index;
      minus.dataset.step = "-1";
      minus.setAttribute("aria-label", `Uno menos de ${line.name}`);
      const remove = el("button", "×", "remove");
      remove.type = "button";
      remove.dataset.line = index;
      remove.setAttribute("aria-label", `Quitar ${line.name}`);
      const what = el("span", line.unavailable ? `${line.name} (${line.unavailable})` : line.name, "line-name");
      // The quantity key: tapped, it asks how many.
      const quantity = el("button", String(line.quantity), "line-quantity");
      quantity.type = "button";
      quantity.dataset.line = index;
      quantity.dataset.quantity = "";
      quantity.setAttribute("aria-label", `Cantidad de ${line.name}: ${line.quantity}`);
      // One more: the product's key again.
      row.append(minus, quantity, what, el("span", pesos(line.unit_price * line.quantity), "line-total"), remove);
      return row;
    });
    list.replaceChildren(...rows);
    this.ticketRoot.hidden = this.ticket.isEmpty();
    bind(this.ticketRoot, "ticket-total").textContent = pesos(this.ticket.total());
    const count = this.ticket.lines.reduce((n, line) => n + line.quantity, 0);
    bind(this.ticketRoot, "ticket-count").textContent = count === 1 ? "1 ítem" : `${count} ítems`;
  }
}
