// provaudit sign-in: come back to the view the user was sent here from.
// The dashboard's address keeps its view in the hash, which a browser never sends to the server:
// the redirect to /login carries it along (#/devices?class=generic), the form sends it as `next`,
// and the server returns there after signing in. After a wrong token the server hands it back
// as ?next=. Only a view of the dashboard ("#/…", visible ASCII) is kept; the server checks again.
'use strict';

(() => {
  const MAX_VIEW = 512; // the server's MAX_RETURN_VIEW_BYTES; the form's body must stay under 1 KiB
  const isView = (v) => typeof v === 'string' && v.length <= MAX_VIEW && /^#\/[\x21-\x7e]*$/.test(v)
    && encodeURIComponent(v).length <= 768;
  const candidates = [location.hash, new URLSearchParams(location.search).get('next')];
  const view = candidates.find(isView);
  if (view) document.getElementById('next').value = view;
})();
