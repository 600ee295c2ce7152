// Small behaviours every page may use, wired by data attributes so that no page needs an
// inline script or event handler (the Content-Security-Policy allows scripts from our own
// static files only):
//   <button data-print>            prints the page
//   <select data-autosubmit>       submits its form when changed (filters)
//   <input data-no-enter>          Enter does not submit the form (a search box inside a form)
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.closest("[data-no-enter]")) event.preventDefault();
});
