// The stored theme, applied before first paint so a dark theme never flashes light. A classic script
// loaded in <head> (not a module, which would run after the page is parsed); main.js switches it.
try {
  const theme = localStorage.getItem("sc-theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch (e) {
  // No storage (a private window may refuse it): the theme follows the system.
}
