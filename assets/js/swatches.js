// Paints each key swatch its product's colour (no inline styles: the
// pages' content security policy refuses them), with text that reads on it.
import { inkOn } from "./colour.js";

for (const swatch of document.querySelectorAll("[data-colour]")) {
  swatch.style.background = swatch.dataset.colour;
  swatch.style.color = inkOn(swatch.dataset.colour);
}
