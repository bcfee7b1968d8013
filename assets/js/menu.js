// The top bar's menu on narrow screens: one button opens and closes it.

const bar = document.getElementById("topbar");
const toggle = bar?.querySelector(".menu-toggle");

function setOpen(open) {
  bar.dataset.menu = open ? "open" : "closed";
  toggle.setAttribute("aria-expanded", String(open));
}

if (toggle) {
  toggle.addEventListener("click", () => setOpen(bar.dataset.menu !== "open"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && bar.dataset.menu === "open") {
      setOpen(false);
      toggle.focus();
    }
  });
}
