#!/usr/bin/env python3
"""Checks rendered csm manifests for the rules every deployment of the system keeps, beyond what
the Kubernetes schemas can say. Used by validate.sh; prints one line per problem and exits 1 if
there is any.

    python3 check_rendered.py [--base] NAME RENDERED.yaml

--base: the output of the base alone, which leaves the database to an overlay's component.

Rules:
- every Deployment: startup, readiness and liveness probes; CPU and memory requests and limits;
  non-root, read-only root filesystem, no privilege escalation, all capabilities dropped,
  RuntimeDefault seccomp; no service account token; every mounted volume declared;
- every csm server: listens on its gRPC port; gRPC probes on it while it serves plain text, and on
  its plain-text health port when it serves TLS (the kubelet's gRPC probe cannot speak TLS);
  upstream URLs https exactly when client TLS is set; a database URL; SQLite (a ReadWriteOnce claim) only with one replica and the Recreate strategy;
- the TM Forum adapter (tmf, an HTTP server): listens on its HTTP port; HTTP probes on it,
  readiness on /health/ready and liveness on /health/live; no server TLS settings (its HTTP face
  serves plain text whatever they say); otherwise as every csm server;
- under a HorizontalPodAutoscaler: no fixed replica count, at least two replicas, a
  PodDisruptionBudget;
- references resolve: ConfigMaps and claims are in the output, Secrets are in the output or are
  the ones created out of band, by CloudNativePG (<cluster>-app) or by cert-manager (secretName);
  Services, autoscalers and budgets select or name an existing Deployment; `$(VAR)` in env refers
  to a variable defined earlier;
- a default-deny NetworkPolicy covers the namespace; every object carries
  app.kubernetes.io/part-of: csm.
"""

import re
import sys

import yaml

# Created by the operator before deploying (docs/operations.md, "Secrets").
EXTERNAL_SECRETS = {"csm-auth-tokens", "csm-feed-tokens"}
SERVER_LABELS = {"app.kubernetes.io/part-of": "csm", "app.kubernetes.io/component": "server"}
PORTS = {"intake": 50051, "classification": 50052, "recovery": 50053, "measurement": 50054}
# csm servers serving HTTP rather than gRPC: the TM Forum adapter.
HTTP_PORTS = {"tmf": 8621}


def main() -> int:
    args = sys.argv[1:]
    base = args[:1] == ["--base"]
    if base:
        args = args[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    name, path = args
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems = Checker(docs, base).run()
    for problem in problems:
        print(f"{name}: {problem}")
    return 1 if problems else 0


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector or {}).items())


class Checker:
    def __init__(self, docs, base=False):
        self.docs = docs
        self.base = base
        self.problems = []
        self.by_kind = {}
        for d in docs:
            self.by_kind.setdefault(d["kind"], []).append(d)

    def of(self, kind):
        return self.by_kind.get(kind, [])

    def names(self, kind):
        return {d["metadata"]["name"] for d in self.of(kind)}

    def fail(self, where, message):
        self.problems.append(f"{where}: {message}")

    def run(self):
        secrets = self.known_secrets()
        hpa_targets = {
            h["spec"]["scaleTargetRef"]["name"]: h for h in self.of("HorizontalPodAutoscaler")
        }
        for d in self.docs:
            labels = d["metadata"].get("labels") or {}
            if labels.get("app.kubernetes.io/part-of") != "csm":
                self.fail(f"{d['kind']}/{d['metadata']['name']}", "no label app.kubernetes.io/part-of: csm")
        for deployment in self.of("Deployment"):
            self.check_deployment(deployment, secrets, hpa_targets.get(deployment["metadata"]["name"]))
        self.check_selectors()
        self.check_network_policies()
        return self.problems

    def known_secrets(self):
        known = set(EXTERNAL_SECRETS) | self.names("Secret")
        known |= {f"{name}-app" for name in self.names("Cluster")}
        known |= {c["spec"]["secretName"] for c in self.of("Certificate")}
        return known

    def check_deployment(self, d, secrets, hpa):
        name = d["metadata"]["name"]
        where = f"Deployment/{name}"
        spec = d["spec"]
        pod = spec["template"]["spec"]
        pod_sc = pod.get("securityContext") or {}
        if pod.get("automountServiceAccountToken") is not False:
            self.fail(where, "automountServiceAccountToken is not false")
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in self.names("ConfigMap"):
                self.fail(where, f"volume {v['name']}: ConfigMap {v['configMap']['name']} is not in the output")
            if "secret" in v and v["secret"]["secretName"] not in secrets:
                self.fail(where, f"volume {v['name']}: Secret {v['secret']['secretName']} comes from nowhere")
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and claim not in self.names("PersistentVolumeClaim"):
                self.fail(where, f"volume {v['name']}: claim {claim} is not in the output")
        has_claim = any("persistentVolumeClaim" in v for v in volumes.values())

        for c in pod["containers"]:
            cw = f"{where} container {c['name']}"
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if probe not in c:
                    self.fail(cw, f"no {probe}")
            resources = c.get("resources") or {}
            for bound in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (resources.get(bound) or {}):
                        self.fail(cw, f"no {r} in resources.{bound}")
            sc = c.get("securityContext") or {}
            if not (sc.get("runAsNonRoot") or (pod_sc.get("runAsNonRoot") and sc.get("runAsNonRoot") is not False)):
                self.fail(cw, "runAsNonRoot is not true")
            if sc.get("readOnlyRootFilesystem") is not True:
                self.fail(cw, "readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                self.fail(cw, "allowPrivilegeEscalation is not false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                self.fail(cw, "capabilities do not drop ALL")
            seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                self.fail(cw, "seccompProfile is not RuntimeDefault")
            for m in c.get("volumeMounts") or []:
                if m["name"] not in volumes:
                    self.fail(cw, f"mounts undeclared volume {m['name']}")
                if m.get("subPath"):
                    self.fail(cw, f"mount {m['mountPath']} uses subPath, which never sees Secret or ConfigMap updates")
            defined = set()
            for e in c.get("env") or []:
                for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", e.get("value") or ""):
                    if ref not in defined:
                        self.fail(cw, f"env {e['name']} refers to $({ref}) before it is defined")
                defined.add(e["name"])
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["name"] not in secrets:
                    self.fail(cw, f"env {e['name']}: Secret {ref['name']} comes from nowhere")

        labels = spec["template"]["metadata"].get("labels") or {}
        if matches(SERVER_LABELS, labels):
            self.check_server(where, name, spec, pod["containers"][0], has_claim, hpa)
        elif has_claim and (spec.get("replicas") != 1 or spec["strategy"].get("type") != "Recreate"):
            self.fail(where, "a ReadWriteOnce claim needs replicas 1 and the Recreate strategy")

    def check_server(self, where, name, spec, c, has_claim, hpa):
        env = {e["name"]: e for e in c.get("env") or []}
        if name in HTTP_PORTS:
            self.check_http_face(where, name, c, env)
        elif name in PORTS:
            self.check_grpc_face(where, name, c, env)
        else:
            self.fail(where, "not one of the four csm services nor the TM Forum adapter")
            return
        self.check_upstreams_and_storage(where, spec, env, has_claim, hpa)

    def check_http_face(self, where, name, c, env):
        value = lambda key: (env.get(key) or {}).get("value")  # noqa: E731
        port = HTTP_PORTS[name]
        if value("CSM_SERVER__LISTEN") != f"0.0.0.0:{port}":
            self.fail(where, f"CSM_SERVER__LISTEN is not 0.0.0.0:{port}")
        http_port = next((p["containerPort"] for p in c.get("ports") or [] if p.get("name") == "http"), None)
        if http_port != port:
            self.fail(where, f"container port http is {http_port}, not {port}")
        if c.get("command") != [f"csm-{name}"]:
            self.fail(where, f"command is not [csm-{name}]")
        # The HTTP face never serves TLS: settings asking for it would be ignored, and a caller
        # told to speak TLS would fail. TLS towards callers is the ingress controller's.
        for key in ("CSM_SERVER__TLS__CERT_FILE", "CSM_SERVER__HEALTH_LISTEN"):
            if key in env:
                self.fail(where, f"{key} is set, but the HTTP face serves plain text only")
        paths = {
            "startupProbe": ("/health/ready", "/health/live"),
            "readinessProbe": ("/health/ready",),
            "livenessProbe": ("/health/live",),
        }
        for probe, allowed in paths.items():
            handler = (c.get(probe) or {}).get("httpGet") or {}
            if handler.get("port") not in (port, "http") or (handler.get("scheme") or "HTTP") != "HTTP":
                self.fail(where, f"{probe} is not an HTTP probe on port {port}")
            elif handler.get("path") not in allowed:
                self.fail(where, f"{probe} asks {handler.get('path')}, not {' or '.join(allowed)}")

    def check_grpc_face(self, where, name, c, env):
        value = lambda key: (env.get(key) or {}).get("value")  # noqa: E731
        port = PORTS[name]
        if value("CSM_SERVER__LISTEN") != f"0.0.0.0:{port}":
            self.fail(where, f"CSM_SERVER__LISTEN is not 0.0.0.0:{port}")
        grpc_port = next((p["containerPort"] for p in c.get("ports") or [] if p.get("name") == "grpc"), None)
        if grpc_port != port:
            self.fail(where, f"container port grpc is {grpc_port}, not {port}")
        if c.get("command") != [f"csm-{name}"]:
            self.fail(where, f"command is not [csm-{name}]")
        tls = "CSM_SERVER__TLS__CERT_FILE" in env
        # The kubelet's gRPC probe cannot speak TLS: with TLS on, probes must ask the plain-text
        # health port (CSM_SERVER__HEALTH_LISTEN) instead of the gRPC port.
        probe_port = port
        if tls:
            health = value("CSM_SERVER__HEALTH_LISTEN") or ""
            probe_port = int(health.rsplit(":", 1)[1]) if ":" in health else None
            if probe_port is None or probe_port == port:
                self.fail(where, "TLS without a plain-text health port (CSM_SERVER__HEALTH_LISTEN) for the probes")
            elif probe_port not in [p["containerPort"] for p in c.get("ports") or []]:
                self.fail(where, f"health port {probe_port} is not a container port")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            handler = c.get(probe) or {}
            if (handler.get("grpc") or {}).get("port") != probe_port:
                self.fail(where, f"{probe} is not a gRPC probe on port {probe_port}")

    def check_upstreams_and_storage(self, where, spec, env, has_claim, hpa):
        client_tls = "CSM_CLIENT_TLS__CA_FILE" in env
        for key, e in env.items():
            if re.fullmatch(r"CSM_UPSTREAM__[A-Z]+__URL", key) and e.get("value"):
                scheme = e["value"].split("://")[0]
                if scheme != ("https" if client_tls else "http"):
                    self.fail(where, f"{key} is {scheme} while client TLS is {'on' if client_tls else 'off'}")
        db = env.get("CSM_DATABASE__URL")
        if db is None and not self.base:
            self.fail(where, "no CSM_DATABASE__URL")
        sqlite = bool(db and (db.get("value") or "").startswith("sqlite:"))
        if sqlite or has_claim:
            if spec.get("replicas") != 1 or spec["strategy"].get("type") != "Recreate":
                self.fail(where, "SQLite on a claim needs replicas 1 and the Recreate strategy")
            if hpa:
                self.fail(where, "SQLite cannot be autoscaled")
        if hpa:
            if "replicas" in spec:
                self.fail(where, "a fixed replicas field fights the HorizontalPodAutoscaler on every apply")
            if hpa["spec"].get("minReplicas", 1) < 2:
                self.fail(where, "autoscaled with fewer than two replicas")
            pod_labels = spec["template"]["metadata"].get("labels") or {}
            if not any(matches(p["spec"]["selector"].get("matchLabels"), pod_labels) for p in self.of("PodDisruptionBudget")):
                self.fail(where, "autoscaled without a PodDisruptionBudget")

    def check_selectors(self):
        pods = [
            (d["metadata"]["name"], d["spec"]["template"]["metadata"].get("labels") or {}, d["spec"]["template"]["spec"])
            for d in self.of("Deployment")
        ]
        for s in self.of("Service"):
            where = f"Service/{s['metadata']['name']}"
            selected = [p for p in pods if matches(s["spec"].get("selector"), p[1])]
            if not selected:
                self.fail(where, "selects no Deployment")
            for port in s["spec"]["ports"]:
                for _, _, pod in selected:
                    names = {p.get("name") for c in pod["containers"] for p in c.get("ports") or []}
                    numbers = {p["containerPort"] for c in pod["containers"] for p in c.get("ports") or []}
                    if port.get("targetPort") not in names | numbers:
                        self.fail(where, f"targetPort {port.get('targetPort')} is no container port")
        for p in self.of("PodDisruptionBudget"):
            if not any(matches(p["spec"]["selector"].get("matchLabels"), labels) for _, labels, _ in pods):
                self.fail(f"PodDisruptionBudget/{p['metadata']['name']}", "selects no Deployment")
        deployments = self.names("Deployment")
        for h in self.of("HorizontalPodAutoscaler"):
            if h["spec"]["scaleTargetRef"]["name"] not in deployments:
                self.fail(f"HorizontalPodAutoscaler/{h['metadata']['name']}", "targets no Deployment")

    def check_network_policies(self):
        if not self.of("Deployment"):
            return
        deny = [
            p for p in self.of("NetworkPolicy")
            if p["spec"].get("podSelector") == {} and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")
        ]
        if not deny:
            self.fail("NetworkPolicy", "no default-deny policy for ingress and egress")


if __name__ == "__main__":
    sys.exit(main())
