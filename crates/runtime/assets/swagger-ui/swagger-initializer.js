// oxserve's Swagger UI set-up: the document next to this page, no online validator, no outside requests.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "./openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    displayRequestDuration: true,
  });
};
