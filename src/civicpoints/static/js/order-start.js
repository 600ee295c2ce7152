// Ordering one product (portal/order_start.html): the − / + stepper and the running total.
(function () {
  const input = document.getElementById("quantity");
  const total = document.getElementById("order-total");
  if (!input) return;
  function show() {
    const n = parseInt(input.value, 10);
    if (isNaN(n) || n < 1) return;
    total.textContent = String(Number((parseInt(input.dataset.price, 10) * n / 100).toFixed(2)));
  }
  document.querySelectorAll(".stepper .step").forEach((button) => {
    button.addEventListener("click", () => {
      const n = (parseInt(input.value, 10) || 1) + parseInt(button.dataset.step, 10);
      const max = parseInt(input.max, 10) || 999;
      input.value = Math.min(Math.max(n, 1), max);
      show();
    });
  });
  input.addEventListener("input", show);
})();
