// A page's "Imprimir" buttons open the browser's print dialog.

for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
