// The Docker and Kubernetes packaging, validated where no engine runs: the Compose file against the
// Compose specification's JSON schema, the Dockerfile with a Dockerfile linter, every Kubernetes
// object against the Kubernetes API schemas, and each against what Vigil needs (probes on the right
// endpoints, non-root, resources, disruption budgets), so that a typo fails CI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import draft07 from 'ajv/dist/refs/json-schema-draft-07.json';
import { validate as lintDockerfile, ValidationSeverity } from 'dockerfile-utils';
import { parseAllDocuments, parse } from 'yaml';
import { repoRoot } from '@vigil/test-kit';
import { IMAGES } from '@vigil/test-kit/dist/testcontainers-infra';

const SERVICES = ['heartbeat', 'state-sync', 'backup-orchestrator', 'notifier'];
const read = (p: string) => readFileSync(path.join(repoRoot, p), 'utf8');

// The Compose specification's own schema (draft-07), copied into infra/schemas (see its README).
const composeSchema = JSON.parse(read('infra/schemas/compose-spec.json')) as object;
const ajv = new Ajv({ strict: false, allErrors: true });
// The schema names draft-07 by its https address; Ajv ships that meta-schema under the http one.
ajv.addMetaSchema(draft07, 'https://json-schema.org/draft-07/schema');
const validCompose = ajv.compile(composeSchema);

function composeErrors(doc: unknown): string[] {
  return validCompose(doc)
    ? []
    : (validCompose.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

interface ComposeService {
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  environment?: Record<string, string>;
  healthcheck?: { test: string[]; interval: string; timeout: string; retries: number; start_period?: string };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
}

const compose = parse(read('infra/compose.yaml'), { merge: true }) as { services: Record<string, ComposeService> };

describe('infra/compose.yaml', () => {
  it('is valid by the Compose specification schema', () => {
    assert.deepEqual(composeErrors(compose), []);
  });

  it('the schema check catches a typo (it can fail)', () => {
    const typo = structuredClone(compose) as { services: Record<string, Record<string, unknown>> };
    typo.services.heartbeat!.healtcheck = typo.services.heartbeat!.healthcheck;
    assert.notDeepEqual(composeErrors(typo), []);
  });

  it('runs the four services from the service Dockerfile, each ready on /health/ready after its infra is healthy', () => {
    for (const name of SERVICES) {
      const s = compose.services[name];
      assert.ok(s, `${name} is missing`);
      assert.equal(s.build?.dockerfile, 'infra/docker/service.Dockerfile');
      assert.equal(s.build?.args?.SERVICE, name);
      assert.ok(existsSync(path.join(repoRoot, 'services', name, 'src/main.ts')));
      assert.equal(s.environment?.HTTP_HOST, '0.0.0.0', `${name} must listen beyond the container`);
      const hc = s.healthcheck!;
      assert.match(hc.test.join(' '), /\/health\/ready/);
      assert.ok(hc.interval && hc.timeout && hc.retries > 0 && hc.start_period, `${name}: the full health-check model`);
      for (const dep of ['kafka', 'registry', 'redis']) {
        assert.equal(s.depends_on?.[dep]?.condition, 'service_healthy', `${name} waits for ${dep}`);
        assert.ok(compose.services[dep]?.healthcheck, `${dep} has a health check to wait for`);
      }
    }
  });

  it('brings the trace backend, Prometheus scraping the four services, and Grafana with the dashboards', () => {
    for (const name of ['zipkin', 'prometheus', 'grafana', 's3']) assert.ok(compose.services[name], name);
    for (const [name, s] of Object.entries(compose.services))
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (source.startsWith('.'))
          assert.ok(existsSync(path.join(repoRoot, 'infra', source)), `${name} mounts ${source}`);
      }
    const prometheus = read('infra/compose/prometheus.yml');
    for (const name of SERVICES) assert.match(prometheus, new RegExp(`'${name}:3000'`));
    assert.match(read('infra/compose/grafana-datasources.yaml'), /url: http:\/\/prometheus:9090/);
  });
});

describe('infra/docker/service.Dockerfile', () => {
  const text = read('infra/docker/service.Dockerfile');

  it('passes the Dockerfile linter without errors or warnings', () => {
    const problems = lintDockerfile(text).filter(
      (d) => d.severity === ValidationSeverity.ERROR || d.severity === ValidationSeverity.WARNING,
    );
    assert.deepEqual(
      problems.map((d) => `line ${d.range.start.line + 1}: ${d.message}`),
      [],
    );
  });

  it('the linter catches a typo (it can fail)', () => {
    assert.ok(lintDockerfile(text.replace('WORKDIR /app', 'WORKDIRR /app')).length > 0);
  });

  it('is multi-stage, runs as a non-root user, checks readiness and stops on SIGTERM', () => {
    const stages = text.split(/^FROM /m).slice(1);
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    const runtime = stages.at(-1)!;
    assert.match(runtime, /^USER node$/m);
    assert.doesNotMatch(runtime, /npm ci|tsc/, 'no build tools in the runtime stage');
    assert.match(runtime, /HEALTHCHECK .*\n?.*\/health\/ready/);
    assert.match(runtime, /exec node/);
  });
});

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

/** The kubernetes-models class for an object, whose validate() checks it against the API schema. */
function modelOf(o: K8sObject): { validate(): void } {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const dir = group === '' ? version : `${group}/${version}`;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(`kubernetes-models/${dir}/${o.kind}`) as Record<string, new (o: object) => { validate(): void }>;
  return new mod[o.kind]!(o);
}

const kustomization = parse(read('infra/k8s/kustomization.yaml')) as { resources: string[] };
const objects: K8sObject[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(read(`infra/k8s/${file}`))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null),
);

interface Container {
  image: string;
  ports: Array<{ name: string; containerPort: number }>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } };
  securityContext?: { allowPrivilegeEscalation?: boolean };
}

describe('infra/k8s (kubectl apply -k)', () => {
  it('every object is valid by the Kubernetes API schema', () => {
    assert.ok(objects.length >= 14);
    for (const o of objects) assert.doesNotThrow(() => modelOf(o).validate(), `${o.kind} ${o.metadata.name}`);
  });

  it('the schema check catches a wrong type (it can fail)', () => {
    const d = structuredClone(objects.find((o) => o.kind === 'Deployment')!);
    d.spec!.replicas = 'two';
    assert.throws(() => modelOf(d).validate(), /replicas/);
  });

  it('each service: replicas to scale out, probes on /health/live and /health/ready, resources, non-root, a budget and a Service', () => {
    const config = objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    assert.equal(config.data.HTTP_HOST, '0.0.0.0');
    for (const name of SERVICES) {
      const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as unknown as {
        spec: {
          replicas: number;
          selector: { matchLabels: Record<string, string> };
          template: { spec: { containers: Container[]; securityContext: { runAsNonRoot: boolean } } };
        };
      };
      assert.ok(d, `${name} Deployment`);
      assert.ok(d.spec.replicas >= 2, `${name} runs more than one instance`);
      const c = d.spec.template.spec.containers[0]!;
      assert.equal(c.livenessProbe?.httpGet?.path, '/health/live', `${name} liveness`);
      assert.equal(c.readinessProbe?.httpGet?.path, '/health/ready', `${name} readiness`);
      assert.ok(c.ports.some((p) => p.name === c.readinessProbe!.httpGet!.port && p.containerPort === 3000));
      assert.ok(
        c.resources?.requests?.memory && c.resources.requests.cpu && c.resources.limits?.memory,
        `${name} resources`,
      );
      assert.equal(d.spec.template.spec.securityContext.runAsNonRoot, true);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
      const selects = (o: K8sObject, at: (s: Record<string, unknown>) => unknown) =>
        JSON.stringify(at(o.spec!)) === JSON.stringify(d.spec.selector.matchLabels);
      assert.ok(
        objects.some(
          (o) =>
            o.kind === 'PodDisruptionBudget' && selects(o, (s) => (s.selector as { matchLabels: unknown }).matchLabels),
        ),
        `${name} PodDisruptionBudget`,
      );
      assert.ok(
        objects.some((o) => o.kind === 'Service' && selects(o, (s) => s.selector)),
        `${name} Service`,
      );
    }
  });
});

describe('the testcontainers path (VIGIL_TEST_INFRA=testcontainers)', () => {
  it('starts the images infra/compose.yaml runs', () => {
    const raw = parse(read('infra/compose.yaml')) as { services: Record<string, { image?: string }> };
    assert.equal(raw.services.kafka?.image, IMAGES.kafka);
    assert.equal(raw.services.registry?.image, IMAGES.registry);
    assert.equal(raw.services.redis?.image, IMAGES.redis);
  });

  it('without a Docker engine it stops at once and says what to do (these machines have none)', () => {
    const r = spawnSync('node', [path.join(repoRoot, 'libs/test-kit/dist/testcontainers-infra.js'), '/dev/null'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /no Docker engine found .*unset VIGIL_TEST_INFRA/);
  });
});
