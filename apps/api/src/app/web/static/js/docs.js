// Starts Swagger UI on /docs (from a file: the Content-Security-Policy allows no inline script).
// A token given to "Authorize" stays in this tab's memory only: persistAuthorization is off, so it is
// never written to localStorage and is gone on reload. An older /docs kept it there; that copy is removed.
localStorage.removeItem("authorized");
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  persistAuthorization: false,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
