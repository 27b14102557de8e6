// Hash routes (#/keys, #/keys/<id>, #/stores, #/audit, #/overview): the server serves one page,
// and the browser's back button and bookmarks work.

import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { readonly view: 'overview' }
  | { readonly view: 'keys' }
  | { readonly view: 'key'; readonly keyId: string }
  | { readonly view: 'stores' }
  | { readonly view: 'audit' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map(decodeURIComponent);
  switch (parts[0]) {
    case 'keys':
      return parts[1] === undefined ? { view: 'keys' } : { view: 'key', keyId: parts[1] };
    case 'stores':
      return { view: 'stores' };
    case 'audit':
      return { view: 'audit' };
    default:
      return { view: 'overview' };
  }
}

export function hrefOf(route: Route): string {
  return route.view === 'key' ? `#/keys/${encodeURIComponent(route.keyId)}` : `#/${route.view}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
