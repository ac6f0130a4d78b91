// offline.js — the page's side of working offline: registers sw.js (which keeps the app
// shell), shows whether the browser is online, and offers a reload when a new version of
// the page has been cached, so that a page never runs a mix of old and new files.

/**
 * Starts watching; resolves `true` once a service worker controls this folder's pages
 * (a later visit then works with the network off), `false` where there is none.
 */
export function watchOffline({ network, update, reload }) {
  const showNetwork = () => {
    network.textContent = navigator.onLine ? 'Online' : 'Offline';
    network.dataset.state = navigator.onLine ? 'online' : 'offline';
  };
  showNetwork();
  addEventListener('online', showNetwork);
  addEventListener('offline', showNetwork);

  if (!('serviceWorker' in navigator)) return Promise.resolve(false);
  reload.addEventListener('click', async () => {
    const registration = await navigator.serviceWorker.getRegistration();
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload());
    registration?.waiting?.postMessage('activate');
  });
  const offerUpdate = (registration) => {
    update.hidden = !(registration.waiting && navigator.serviceWorker.controller);
  };
  return navigator.serviceWorker.register('sw.js').then(
    (registration) => {
      offerUpdate(registration);
      registration.addEventListener('updatefound', () => {
        registration.installing?.addEventListener('statechange', () => offerUpdate(registration));
      });
      return navigator.serviceWorker.ready.then(() => true);
    },
    (error) => {
      console.warn(`the page will not work offline: ${error.message}`);
      return false;
    },
  );
}
