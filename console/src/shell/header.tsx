import type { ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { departure } from '../graphql/session-expiry';
import { DeadLetterCount } from '../notifications/dead-letter-count';
import { useViewer } from './viewer';

interface NavItem {
  href: string;
  label: string;
  /** Beside the label, e.g. a count of what needs attention. */
  badge?: ComponentChildren;
}

/** The pages this person has a use for (the review queue only for reviewers, anomalies and notifications only for auditors). */
function navigation(reviewer: boolean, auditor: boolean): NavItem[] {
  return [
    { href: '/', label: 'Overview' },
    { href: '/requests', label: 'Request access' },
    ...(reviewer ? [{ href: '/review', label: 'Review' }] : []),
    { href: '/grants', label: 'Grants' },
    { href: '/audit', label: 'Audit log' },
    ...(auditor
      ? [
          { href: '/anomalies', label: 'Anomalies' },
          { href: '/notifications', label: 'Notifications', badge: <DeadLetterCount /> },
        ]
      : []),
    { href: '/tokens', label: 'API tokens' },
    { href: '/connect', label: 'Connect' },
  ];
}

export function Header() {
  const viewer = useViewer();
  const { path } = useLocation();
  const [signOutError, setSignOutError] = useState('');
  const signOut = async () => {
    if (!departure.claim('signing-out')) return;
    try {
      const response = await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`the broker answered ${response.status}`);
      // 200 names the IdP's Single Logout to go through (it comes back to the sign-in page); 204: done here.
      const next = response.status === 200 ? ((await response.json()) as { redirect?: unknown }).redirect : undefined;
      location.assign(typeof next === 'string' ? next : '/signin');
    } catch (error) {
      departure.release('signing-out');
      setSignOutError(`Could not sign out: ${(error as Error).message}.`);
    }
  };
  const { user } = viewer;
  return (
    <header class="site-header">
      <a class="skip-link" href="#main">
        Skip to main content
      </a>
      <div class="site-header-bar">
        <a class="brand" href="/">
          Portcullis
        </a>
        <div class="whoami">
          <span class="whoami-name">{user.displayName ?? user.email}</span>
          {user.displayName && <span class="muted"> ({user.email})</span>}
          <span class="whoami-roles">
            {user.roles.length > 0 ? `Roles: ${user.roles.join(', ')}` : 'No roles'}
          </span>
          <button type="button" class="button-secondary" onClick={signOut}>
            Sign out
          </button>
          {signOutError && (
            <span role="alert" class="field-error">
              {signOutError}
            </span>
          )}
        </div>
      </div>
      <nav aria-label="Main" class="site-nav">
        <ul>
          {navigation(viewer.reviewer, viewer.readsAllAudit).map((item) => (
            <li key={item.href}>
              <a href={item.href} aria-current={path === item.href ? 'page' : undefined}>
                {item.label}
                {item.badge}
              </a>
            </li>
          ))}
        </ul>
      </nav>
    </header>
  );
}
