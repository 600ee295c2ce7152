// The ceremony form (backoffice/ceremony_new.html): "加入名单" adds one line (card code,
// product, quantity) to the list; the list stays plain text.
document.getElementById("found").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-card]");
  if (!button) return;
  const text = document.getElementById("text");
  const line = [button.dataset.card, document.getElementById("pick-product").value,
                document.getElementById("pick-quantity").value.trim() || "1"].join("\t");
  text.value = (text.value.trim() ? text.value.replace(/\s+$/, "") + "\n" : "") + line + "\n";
  button.disabled = true;
  button.textContent = button.dataset.added;
});
