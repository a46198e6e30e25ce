// The API reference at /docs: the vendored Swagger UI (web/vendor/,
// swagger-ui-dist 5.35.0) rendering this server's /openapi.json. Nothing is
// fetched from elsewhere: no validator badge, no CDN.
/* global SwaggerUIBundle */

window.addEventListener('DOMContentLoaded', () => {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#reference',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    // The default asks validator.swagger.io about the document.
    validatorUrl: null,
  });
});
