import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, tokenStore } from './api/client.js';
import { ApiContext, Link, useRoute } from './components/navigation.js';
import { hrefOf } from './lib/routes.js';
import { ProjectPage } from './pages/project.js';
import { ProjectsPage } from './pages/projects.js';
import { SignInPage } from './pages/sign-in.js';
import { NewSyncPage, SyncPage } from './pages/sync.js';

export function App() {
  const [token, setToken] = useState<string | null>(() => tokenStore.read());
  const [expired, setExpired] = useState(false);
  const signOut = (because?: 'expired') => {
    tokenStore.write(null);
    setToken(null);
    setExpired(because === 'expired');
  };
  const api = useMemo(() => (token ? new Api(token, () => signOut('expired')) : null), [token]);
  const route = useRoute();
  // After an in-app navigation, start the keyboard and screen reader at the new page's content.
  const firstRoute = useRef(true);
  const routeKey = JSON.stringify(route);
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [routeKey]);

  if (!api) {
    return (
      <SignInPage
        expired={expired}
        onSignedIn={(t) => {
          tokenStore.write(t);
          setExpired(false);
          setToken(t);
        }}
      />
    );
  }

  return (
    <ApiContext.Provider value={api}>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href={hrefOf({ page: 'projects' })} class="brand">
          inkstream <span>console</span>
        </Link>
        <nav aria-label="Main">
          <Link href={hrefOf({ page: 'projects' })} aria-current={route.page === 'projects' ? 'page' : undefined}>
            Projects
          </Link>
          <a href="/docs">API docs</a>
          <button type="button" class="link-button" onClick={() => signOut()}>
            Sign out
          </button>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === 'projects' && <ProjectsPage />}
        {route.page === 'project' && <ProjectPage projectId={route.projectId} />}
        {route.page === 'new-sync' && <NewSyncPage projectId={route.projectId} />}
        {route.page === 'sync' && <SyncPage syncId={route.syncId} tab={route.tab} />}
        {route.page === 'not-found' && (
          <section>
            <h1>Not found</h1>
            <p>
              Nothing lives at <code>{route.path}</code>. <Link href={hrefOf({ page: 'projects' })}>Back to the projects</Link>.
            </p>
          </section>
        )}
      </main>
    </ApiContext.Provider>
  );
}
