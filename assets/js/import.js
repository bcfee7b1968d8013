// A chosen file is read into the form's text box (a form sends text, not
// files, here): the admin sees what will be imported before importing.
for (const input of document.querySelectorAll("input[type=file][data-fills]")) {
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    document.getElementById(input.dataset.fills).value = await file.text();
  });
}
