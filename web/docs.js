/* docs.js - renders /openapi.json with swagger-ui-dist (served by this
 * server from the binary); the online spec validator stays off, so the
 * page fetches nothing from elsewhere. */
'use strict';
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger',
  deepLinking: true,
  validatorUrl: null,
});
