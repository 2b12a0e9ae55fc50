import { Page } from '../shell/page';
import { useViewer } from '../shell/viewer';
import { ActiveGrants, EndedGrants } from './grants-table';

/** `/grants`: active grants with time left and revoke; those that ended. */
export function GrantsPage() {
  const viewer = useViewer();
  const whose = viewer.readsAllAudit ? 'Everyone’s grants (you are an auditor)' : viewer.reviewer ? 'Your grants, and those you could have approved' : 'Your grants';
  return (
    <Page title="Grants" intro={`${whose}. A grant ends by itself when its time is up; revoking ends it at once.`}>
      <section aria-labelledby="active-grants-title">
        <h2 id="active-grants-title">Active grants</h2>
        <ActiveGrants caption="Active grants (updated live)" />
      </section>
      <section aria-labelledby="ended-grants-title">
        <h2 id="ended-grants-title">Ended grants</h2>
        <EndedGrants />
      </section>
    </Page>
  );
}
