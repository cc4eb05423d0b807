import { useState } from 'preact/hooks';
import { ApiError, tokenAccepted } from '../api/client.js';
import { Notice } from '../components/ui.js';

export function SignInPage(props: { expired: boolean; onSignedIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" class="sign-in">
      <form
        class="card"
        onSubmit={async (e) => {
          e.preventDefault();
          const t = token.trim();
          if (t === '') {
            setError('Enter the admin token.');
            return;
          }
          setBusy(true);
          setError(null);
          try {
            if (await tokenAccepted(t)) props.onSignedIn(t);
            else setError('That is not the admin token. Use the ADMIN_TOKEN the config service was started with (npm start keeps it in .data/secrets.env).');
          } catch (err) {
            setError(err instanceof ApiError ? err.message : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>
          inkstream <span>console</span>
        </h1>
        <p>Stream Amplitude-compatible events into Movable Ink. Sign in with the admin token.</p>
        {props.expired && <Notice kind="warning">The admin token was refused: sign in again.</Notice>}
        <div class={`field${error ? ' invalid' : ''}`}>
          <label for="admin-token">Admin token</label>
          <input
            id="admin-token"
            type="password"
            autocomplete="current-password"
            value={token}
            autofocus
            onInput={(e) => setToken(e.currentTarget.value)}
            {...(error ? { 'aria-invalid': true, 'aria-describedby': 'admin-token-error' } : {})}
          />
          {error && (
            <p class="field-error" id="admin-token-error" role="alert">
              {error}
            </p>
          )}
          <p class="hint">Kept in this tab only (session storage), sent only in the Authorization header.</p>
        </div>
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
