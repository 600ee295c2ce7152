// The payment code's countdown (portal/pay.html); "刷新付款码" swaps a new code in with htmx.
// Only if the refresh could not reach the server (no network) does the code run out: the page
// says so in words, no pop-up.
(function () {
  let deadline = 0;
  function tick() {
    const box = document.getElementById("pay-code");
    const left = document.getElementById("pay-left");
    if (!box || !left || !deadline) return;
    const seconds = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    left.textContent = seconds;
    box.classList.toggle("expired", seconds === 0);
    if (seconds === 0) left.parentNode.textContent = document.getElementById("pay-refresh").dataset.expired;
  }
  function arm() {
    const box = document.getElementById("pay-code");
    deadline = box && box.dataset.ttl ? Date.now() + parseInt(box.dataset.ttl, 10) * 1000 : 0;
    tick();
  }
  arm();
  document.addEventListener("htmx:afterSettle", arm);
  setInterval(tick, 1000);
})();
