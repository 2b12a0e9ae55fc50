import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { SHUTDOWN_GRACE_MS } from '../../server/main.js';
import { loadWithSecretFiles, readYamlDocuments, SECRETS_DIR, secretFilesOf } from '../support/deploy-artifacts.js';
import { fieldProblems } from '../support/kubernetes-fields.js';

const K8S_DIR = 'infra/k8s';

/** The kinds shipped, each with its model generated from the Kubernetes OpenAPI schema (validate() checks it). */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // The checks below walk the parts they name; the schema validation covers the rest.
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  automountServiceAccountToken?: boolean;
}

const manifests = readdirSync(K8S_DIR)
  .filter((name) => name.endsWith('.yaml'))
  .flatMap((name) => readYamlDocuments(join(K8S_DIR, name)).map((document) => ({ file: name, manifest: document as Manifest })));

function validate(manifest: Manifest): void {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!Model) throw new Error(`no Kubernetes schema here for ${manifest.apiVersion} ${manifest.kind}`);
  new Model(manifest as never).validate();
}

function only(kind: string): Manifest {
  const found = manifests.filter(({ manifest }) => manifest.kind === kind);
  expect(found, `one ${kind}`).toHaveLength(1);
  return found[0]!.manifest;
}

const deployment = only('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const configText = only('ConfigMap').data?.['portcullis.yaml'] ?? '';

describe('the Kubernetes manifests', () => {
  it('each validates against the Kubernetes schema of its kind, in the portcullis namespace', () => {
    expect(manifests.map(({ manifest }) => manifest.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Secret', 'Secret', 'Secret', 'Secret', 'Service', 'ServiceAccount']);
    for (const { file, manifest } of manifests) {
      expect(() => validate(manifest), `${file}: ${manifest.kind} ${manifest.metadata.name}`).not.toThrow();
      if (manifest.kind !== 'Namespace') expect(manifest.metadata.namespace, `${file}: ${manifest.kind}`).toBe('portcullis');
    }
  });

  it('hold no field Kubernetes does not know, at any depth (what the schemas, open objects, let pass)', () => {
    expect(fieldProblems(manifests.map(({ manifest }) => manifest))).toEqual([]);
    const misspelt = { ...deployment, spec: { ...deployment.spec, template: { ...deployment.spec.template, spec: { ...pod, containers: [{ ...container, readinesProbe: container.readinessProbe }] } } } };
    expect(fieldProblems([misspelt])).toEqual([expect.stringMatching(/^Deployment portcullis: .*'"readinesProbe"' does not exist in type 'IContainer'/)]);
  });

  it('a manifest the schema refuses is refused (the validation is not a formality)', () => {
    expect(() => validate({ ...deployment, spec: { ...deployment.spec, replicas: 'two' } })).toThrow(/replicas/);
    expect(() => validate({ ...deployment, spec: { ...deployment.spec, template: { ...deployment.spec.template, spec: { ...pod, containers: [{ ...container, ports: [{ containerPort: '8080' }] }] } } } })).toThrow(/containerPort/);
  });
});

describe('the Deployment', () => {
  it('runs at least two replicas, and the PodDisruptionBudget lets a drain take only one', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    const budget = only('PodDisruptionBudget');
    expect(budget.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(budget.spec.maxUnavailable).toBe(1);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('probes the broker: readiness on /readyz, liveness and startup on /healthz, on the port its configuration listens on', async () => {
    const { config } = await loadWithSecretFiles(configText);
    const port = container.ports.find((p: { name: string }) => p.name === 'http');
    expect(port.containerPort).toBe(config.server.port);
    expect(config.server.host).toBe('0.0.0.0');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.env).toContainEqual({ name: 'PORTCULLIS_CONFIG', value: '/etc/portcullis/portcullis.yaml' });
  });

  it("gives the pod time for the preStop wait and the broker's whole drain before SIGKILL", () => {
    const [command, seconds, ...rest] = container.lifecycle.preStop.exec.command as string[];
    expect([command, rest]).toEqual(['sleep', []]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(seconds) + SHUTDOWN_GRACE_MS / 1000);
  });

  it('runs as a non-root user on a read-only root filesystem, without capabilities, with the runtime seccomp profile and no API token', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(only('ServiceAccount')).toMatchObject({ metadata: { name: pod.serviceAccountName }, automountServiceAccountToken: false });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toEqual(expect.any(String));
  });

  it('projects every secret file the configuration reads from a key the example Secrets define, readable by the group only', () => {
    const projected = new Map<string, string>();
    const volume = pod.volumes.find((v: { name: string }) => v.name === 'secrets');
    for (const { secret } of volume.projected.sources) {
      const defined = manifests.find(({ manifest }) => manifest.kind === 'Secret' && manifest.metadata.name === secret.name)?.manifest.stringData ?? {};
      for (const item of secret.items) {
        expect(Object.keys(defined), `${secret.name} defines ${item.key}`).toContain(item.key);
        projected.set(item.path, secret.name);
      }
    }
    expect(volume.projected.defaultMode).toBe(0o440);
    expect(container.volumeMounts).toContainEqual({ name: 'secrets', mountPath: SECRETS_DIR.replace(/\/$/, ''), readOnly: true });
    const read = [...secretFilesOf(configText), ...container.env.filter((e: { name: string }) => e.name === 'NODE_EXTRA_CA_CERTS').map((e: { value: string }) => e.value.slice(SECRETS_DIR.length))];
    expect(read.filter((file) => !projected.has(file))).toEqual([]);
  });
});

describe("the ConfigMap's portcullis.yaml", () => {
  it("loads with the broker's own loader, behind TLS and on Redis", async () => {
    const { config } = await loadWithSecretFiles(configText);
    expect(config.server.publicUrl).toMatch(/^https:\/\//);
    expect(config.server.trustedProxies.length).toBeGreaterThan(0);
    expect(config.store.redis?.url).toMatch(/^rediss:\/\//);
  });
});

describe('the Service and the NetworkPolicy', () => {
  it('the Service sends to the broker port of the Deployment\'s pods', () => {
    const service = only('Service');
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
  });

  it('admits only the ingress controller namespace, on the broker port', () => {
    const policy = only('NetworkPolicy');
    expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.ingress).toEqual([{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }]);
  });

  it('lets the broker out to DNS, Redis and HTTPS (IdP, upstreams) only', () => {
    const ports = only('NetworkPolicy').spec.egress.flatMap((rule: { ports: { protocol: string; port: number }[] }) => rule.ports.map((p) => `${p.protocol}/${p.port}`));
    expect(new Set(ports)).toEqual(new Set(['UDP/53', 'TCP/53', 'TCP/6379', 'TCP/26379', 'TCP/443']));
  });
});
