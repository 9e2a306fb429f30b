"""The Helm chart, checked offline: rendered by Helm's own engine (helm-python-sdk binds Helm's
Go SDK), linted, every manifest validated against the Kubernetes API schemas of the oldest and
newest versions the chart declares, wrong values refused by its schema, and what a reviewer
checks by eye asserted. No cluster and no helm binary are needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import tool

CHART = Path(__file__).resolve().parents[2] / "helm" / "data-service"
KUBE_VERSIONS = ("1.25.0", "1.37.0")  # Chart.yaml's kubeVersion: the oldest and the newest
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "HTTPRoute"}  # no schema for these in kubernetes-validate


def production() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values-production.yaml").read_text())
    return values


def sqlite_demo() -> dict[str, Any]:
    return {"storage": {"dialect": "sqlite"}, "replicaCount": 1, "autoscaling": {"enabled": False}}


CASES: dict[str, Any] = {
    "defaults": lambda: {},
    "production": production,
    "sqlite-demo": sqlite_demo,
    "ingress": lambda: {"ingress": {"enabled": True, "tls": {"secretName": "tls"}}},
    "service-monitor": lambda: {"metrics": {"serviceMonitor": {"enabled": True}}},
    "prometheus-rule": lambda: {"metrics": {"prometheusRule": {"enabled": True}}},
    "dashboard": lambda: {"metrics": {"grafanaDashboard": {"enabled": True}}},
    "no-redis-no-policy": lambda: {"redis": {"enabled": False}, "networkPolicy": {"enabled": False}},
    "openshift-http-route": lambda: {
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {  # what OpenShift's restricted-v2 admits: no UID, every capability dropped
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "extraVolumes": [{"name": "ca", "configMap": {"name": "corporate-ca"}}],
        "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/corporate", "readOnly": True}],
        "httpRoute": {
            "enabled": True,
            "parentRefs": [{"name": "edge", "namespace": "gateways"}],
            "hostnames": ["api.example.com"],
        },
    },
    "read-replicas": lambda: {"storage": {"readReplicas": {"existingSecret": "replicas", "urlsKey": "urls"}}},
    "redis-cluster": lambda: {"redis": {"cluster": True}},
    "hmac-tokens": lambda: {
        "auth": {"jwksUrl": "", "hmacSecret": {"name": "jwt", "key": "secret"}},
        "tests": {"tokenSecret": {"name": "test-token", "key": "token"}},
    },
}


def render(chart: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the chart renders with these values."""
    rendered = chart.render(values, name="ds", namespace="data", is_install=True)
    objects = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@pytest.mark.parametrize("case", CASES)
def test_helm_lint_passes_strict_on_the_oldest_and_newest_kubernetes(helm: Any, case: str) -> None:
    for version in KUBE_VERSIONS:
        report = helm.lint(CHART, CASES[case](), strict=True, kube_version=f"v{version}")
        problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        assert problems == [], (version, problems)


@pytest.mark.parametrize("case", CASES)
def test_every_manifest_is_valid_for_the_oldest_and_newest_kubernetes(chart: Any, case: str) -> None:
    kubernetes_validate = tool("kubernetes_validate", "kubernetes-validate")
    objects = render(chart, CASES[case]())
    assert objects
    for version in KUBE_VERSIONS:
        for manifest in objects:
            if manifest["kind"] in CRD_KINDS:
                continue
            kubernetes_validate.validate(manifest, version, strict=True)


def test_the_defaults_render_the_production_shape(chart: Any) -> None:
    objects = render(chart, {})
    kinds = sorted(o["kind"] for o in objects)

    assert kinds == sorted(
        [
            "ConfigMap",
            "CronJob",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Job",
            "NetworkPolicy",
            "NetworkPolicy",
            "Pod",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ]
    )
    (hpa,) = of_kind(objects, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}
    (deployment,) = of_kind(objects, "Deployment")
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it


def test_probes_security_and_shutdown_are_what_a_reviewer_expects(chart: Any) -> None:
    (deployment,) = of_kind(render(chart, production()), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config = next(o for o in render(chart, production()) if o["kind"] == "ConfigMap")["data"]

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "metrics": int(config["APP_METRICS_PORT"])}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    grace = int(config["APP_SHUTDOWN_GRACE_SECONDS"])
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] > pause + grace
    security = container["securityContext"]
    assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"]
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    resources = container["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert resources["limits"] == {"cpu": "2000m", "memory": "2Gi"}
    assert not container["image"].endswith(":latest") and ":" in container["image"]
    spread = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert spread == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["checksum/config"]) == 64


def test_secrets_come_from_existing_secrets_only(chart: Any) -> None:
    objects = render(chart, production())
    (deployment,) = of_kind(objects, "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    assert env["APP_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "data-service-database",
        "key": "url",
    }
    assert env["APP_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "data-service-redis", "key": "url"}
    assert of_kind(objects, "Secret") == []  # the chart never writes one
    config = of_kind(objects, "ConfigMap")[0]["data"]
    assert not {"APP_DATABASE_URL", "APP_REDIS_URL", "APP_JWT_SECRET"} & set(config)
    assert "APP_DATABASE_READ_URLS" not in env  # no replicas unless a Secret names them


def test_the_security_contexts_volumes_and_an_http_route_are_the_operators_to_set(chart: Any) -> None:
    defaults = of_kind(render(chart, {}), "Deployment")[0]["spec"]["template"]["spec"]
    objects = render(chart, CASES["openshift-http-route"]())
    pod = of_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]
    (route,) = of_kind(objects, "HTTPRoute")

    assert defaults["securityContext"]["runAsUser"] == 10001 and not of_kind(render(chart, {}), "HTTPRoute")
    assert "runAsUser" not in pod["securityContext"]  # OpenShift assigns the UID
    assert all("runAsUser" not in c["securityContext"] for c in pod["containers"])
    assert {"name": "ca", "configMap": {"name": "corporate-ca"}} in pod["volumes"]
    assert {"name": "ca", "mountPath": "/etc/ssl/corporate", "readOnly": True} in pod["containers"][0][
        "volumeMounts"
    ]
    assert route["spec"]["parentRefs"] == [{"name": "edge", "namespace": "gateways"}]
    assert route["spec"]["hostnames"] == ["api.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"][0]["port"] == 80 and rule["timeouts"]["request"] == "15s"


def test_read_replicas_come_from_an_existing_secret(chart: Any) -> None:
    objects = render(chart, CASES["read-replicas"]())
    (deployment,) = of_kind(objects, "Deployment")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    assert env["APP_DATABASE_READ_URLS"]["valueFrom"]["secretKeyRef"] == {"name": "replicas", "key": "urls"}


def test_a_redis_cluster_is_named_by_one_nodes_url(chart: Any) -> None:
    def env(values: dict[str, Any]) -> dict[str, Any]:
        (deployment,) = of_kind(render(chart, values), "Deployment")
        return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    clustered = env(CASES["redis-cluster"]())

    assert clustered["APP_REDIS_CLUSTER"]["value"] == "true"
    assert clustered["APP_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "data-service-redis"
    assert "APP_REDIS_CLUSTER" not in env({})


def test_a_config_change_rolls_the_pods(chart: Any) -> None:
    def checksum(values: dict[str, Any]) -> str:
        (deployment,) = of_kind(render(chart, values), "Deployment")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) != checksum({"config": {"APP_LOG_LEVEL": "debug"}})


def test_migrations_run_in_a_hook_before_install_and_upgrade(chart: Any) -> None:
    (job,) = of_kind(render(chart, {}), "Job")
    annotations = job["metadata"]["annotations"]

    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
    assert job["spec"]["activeDeadlineSeconds"] > 0 and job["spec"]["backoffLimit"] >= 1
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "app", "migrate"]
    (deployment,) = of_kind(render(chart, {}), "Deployment")
    assert "initContainers" not in deployment["spec"]["template"]["spec"]  # pods never migrate


def test_postgres_partitions_are_maintained_weekly_by_the_migrations_own_pod(chart: Any) -> None:
    """A release left alone for months still gets next month's partition before its rows: the
    migrations run again on a schedule, in the pod the hook runs (and its NetworkPolicy lets
    through), one at a time."""
    objects = render(chart, {})
    (cron,) = of_kind(objects, "CronJob")
    (job,) = of_kind(objects, "Job")

    assert cron["spec"]["schedule"] == "17 3 * * 1" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["template"] == job["spec"]["template"]
    unscheduled = {"migrations": {"maintenanceSchedule": ""}}
    for values in ({"storage": {"dialect": "oracle"}}, unscheduled, sqlite_demo()):
        assert of_kind(render(chart, values), "CronJob") == [], values


def test_the_sqlite_demo_is_one_pod_on_a_volume_that_migrates_itself(chart: Any) -> None:
    objects = render(chart, sqlite_demo())
    (deployment,) = of_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]

    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert of_kind(objects, "HorizontalPodAutoscaler") == [] and of_kind(objects, "Job") == []
    assert [c["name"] for c in pod["initContainers"]] == ["migrate"]
    assert len(of_kind(objects, "PersistentVolumeClaim")) == 1


def test_helm_test_hooks_check_readiness_and_a_write_then_read(chart: Any) -> None:
    pods = of_kind(render(chart, production()), "Pod")
    scripts = {p["metadata"]["name"]: p["spec"]["containers"][0]["command"][2] for p in pods}

    assert all(p["metadata"]["annotations"]["helm.sh/hook"] == "test" for p in pods)
    assert "/ready" in scripts["ds-data-service-test-ready"]
    write_read = scripts["ds-data-service-test-write-read"]
    assert 'method="POST"' in write_read and '"/data/" + stored["id"]' in write_read


def test_the_ingresses_carry_the_services_body_limits_and_outlast_its_deadline(chart: Any) -> None:
    ingresses = {i["metadata"]["name"]: i for i in of_kind(render(chart, production()), "Ingress")}

    single, bulk = ingresses["ds-data-service"], ingresses["ds-data-service-bulk"]
    assert single["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "1m"
    assert bulk["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "8m"
    assert bulk["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/data/bulk"
    read_timeout = int(single["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert read_timeout > int(production()["config"]["APP_REQUEST_DEADLINE_SECONDS"])
    assert all(i["spec"]["ingressClassName"] == "nginx" and i["spec"]["tls"] for i in ingresses.values())


def test_one_client_has_its_share_at_the_ingress_and_pods_outlast_its_keep_alive(chart: Any) -> None:
    rendered = render(chart, production())
    ingresses = of_kind(rendered, "Ingress")
    (config,) = [c for c in of_kind(rendered, "ConfigMap") if "APP_PORT" in c.get("data", {})]
    unlimited = of_kind(
        render(chart, {**production(), "ingress": {**production()["ingress"], "connectionsPerClient": 0}}),
        "Ingress",
    )

    assert {
        i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/limit-connections"] for i in ingresses
    } == {"256"}
    assert all(
        "nginx.ingress.kubernetes.io/limit-connections" not in i["metadata"]["annotations"] for i in unlimited
    )
    # ingress-nginx keeps upstream connections 60 s: a pod that closed them sooner would race it.
    assert int(config["data"]["APP_IDLE_TIMEOUT_SECONDS"]) > 60
    assert int(config["data"]["APP_MAX_CONNECTIONS"]) >= 1024


def test_the_network_policy_lets_in_only_the_ingress_controller_and_monitoring(chart: Any) -> None:
    policies = {
        p["metadata"]["name"]: p["spec"] for p in of_kind(render(chart, production()), "NetworkPolicy")
    }
    spec = policies["ds-data-service"]

    sources = [rule["from"][0] for rule in spec["ingress"]]
    namespaces = [s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in sources[::2]]
    assert namespaces == ["ingress-nginx", "monitoring"]
    egress_ports = sorted(p["port"] for rule in spec["egress"] for p in rule["ports"])
    assert egress_ports == [53, 53, 443, 5432, 6380]  # DNS, the JWKS host, PostgreSQL, Redis
    assert all("to" in rule for rule in spec["egress"])  # each to named addresses
    migrations = policies["ds-data-service-migrate"]  # the hook Job's pods: DNS and the database
    migration_ports = sorted(p["port"] for rule in migrations["egress"] for p in rule["ports"])
    assert "ingress" not in migrations and migration_ports == [53, 53, 5432]


def test_monitoring_toggles_ship_the_alert_rules_and_dashboard_of_the_repository(chart: Any) -> None:
    objects = render(chart, production())
    (rule,) = of_kind(objects, "PrometheusRule")
    (monitor,) = of_kind(objects, "ServiceMonitor")
    dashboards = [o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")]

    shipped = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    assert rule["spec"]["groups"] == shipped["groups"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (dashboard,) = dashboards
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["data"]["data-service.json"] == (CHART / "files" / "dashboard.json").read_text().strip()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (
            {"storage": {"dialect": "sqlite"}, "replicaCount": 3, "autoscaling": {"enabled": False}},
            "replicaCount",
        ),
        ({"storage": {"dialect": "sqlite"}, "replicaCount": 1}, "autoscaling/enabled"),
        ({"config": {"APP_JWT_SECRET": "a-literal-secret-of-thirty-two-bytes!"}}, "APP_JWT_SECRET"),
        ({"config": {"APP_DATABASE_URL": "postgresql://u:p@db/x"}}, "APP_DATABASE_URL"),
        ({"extraEnv": [{"name": "APP_REDIS_URL", "value": "redis://:p@r:6379"}]}, "extraEnv"),
        ({"storage": {"databaseUrl": "postgresql://u:p@db/x"}}, "databaseUrl"),
        ({"replicaCount": -1}, "replicaCount"),
        ({"image": {"tag": "latest"}}, "image/tag"),
        ({"auth": {"jwksUrl": ""}}, "auth"),
        ({"auth": {"algorithms": "HS256,none"}}, "algorithms"),
        ({"httpRoute": {"enabled": True, "parentRefs": [], "hostnames": []}}, "parentRefs"),
        ({"migrations": {"maintenanceSchedule": "weekly"}}, "maintenanceSchedule"),
    ],
    ids=[
        "sqlite-3-replicas",
        "sqlite-autoscaled",
        "literal-jwt-secret",
        "literal-database-url",
        "literal-secret-in-extra-env",
        "unknown-key",
        "negative-replicas",
        "latest-tag",
        "jwt-without-keys",
        "alg-none",
        "http-route-without-a-gateway",
        "schedule-not-cron",
    ],
)
def test_the_values_schema_refuses_wrong_values_naming_them(
    helm: Any, chart: Any, values: dict[str, Any], named: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as refused:
        chart.render(values, name="ds", namespace="data")

    assert named in str(refused.value)


def leaves(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("config", "podLabels", "labels", "annotations"):
            yield from leaves(value, f"{path}.")
        else:
            yield path


def test_the_charts_readme_describes_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()

    missing = [path for path in leaves(values) if f"| `{path}` |" not in readme]
    assert missing == []


@pytest.mark.parametrize("case", CASES)
def test_the_configmap_is_settings_the_service_accepts(chart: Any, case: str) -> None:
    from dataclasses import fields

    from app.settings import Settings

    objects = render(chart, CASES[case]())
    data = next(o for o in objects if o["kind"] == "ConfigMap" and "-dashboard" not in o["metadata"]["name"])[
        "data"
    ]
    known = {f"APP_{f.name.upper()}" for f in fields(Settings)}
    environ = {**data, "APP_DATABASE_URL": "postgresql://u@db:5432/d", "APP_JWT_SECRET": "s" * 32}
    if "APP_JWT_JWKS_URL" in data or "APP_JWT_JWKS_FILE" in data:
        del environ["APP_JWT_SECRET"]

    assert {k for k in data if k.startswith("APP_")} <= known  # a misspelt setting would be ignored
    Settings.from_env(environ)  # every value parses and passes the service's own checks


def test_a_client_dry_run_install_holds_the_release_objects_and_leaves_hooks_to_their_phases(
    helm: Any, chart: Any
) -> None:
    config = helm.Config(storage_driver="memory", namespace="data")  # no cluster: releases in memory
    release = config.install(chart, "ds", production(), namespace="data", dry_run="client")
    installed = [doc for doc in yaml.safe_load_all(release["manifest"]) if doc]

    rendered = render(chart, production())
    hooks = [o for o in rendered if "helm.sh/hook" in o["metadata"].get("annotations", {})]
    expected = sorted((o["kind"], o["metadata"]["name"]) for o in rendered if o not in hooks)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in installed) == expected
    assert {o["kind"] for o in hooks} == {"Job", "NetworkPolicy", "Pod"}  # migration, its policy, tests
    assert all(o["metadata"]["namespace"] == "data" for o in installed)
