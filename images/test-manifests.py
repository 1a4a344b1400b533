#!/usr/bin/env python3
"""Checks images/k8s/*.yaml against what Seldon Core 1.18.2's operator and KServe read.

seldon-config: `predictor_servers` is JSON, implementation -> {"protocols": {p: {"image", "defaultImageVersion"}}}
with p only seldon/v2/kfserving/tensorflow (anything else is silently ignored by the operator), the Helm defaults
kept for every other server, SKLEARN_SERVER on oxserve's image for seldon and v2; `storageInitializer` has an image
and four Kubernetes quantities that parse (the operator fails injection otherwise). The SeldonDeployment is the
seed's iris one; the ClusterServingRuntime declares sklearn and the v1, v2 and grpc-v2 protocols on the same image,
started with the arguments of KServe's kserve-sklearnserver; every KServe runtime lists v1, v2 and grpc-v2; KServe's
quickstart InferenceService (sklearn-iris, no protocolVersion: v1) selects oxserve-sklearn by KServe's controller's
rules (and an xgboost, lightgbm or huggingface one selects oxserve's) beside KServe's own runtimes; the ONNX, Hugging
Face, XGBoost and LightGBM runtimes and the TENSORFLOW_SERVER / HUGGINGFACE_SERVER / XGBOOST_SERVER examples resolve
to onnx-server / candle-server / xgboost-server (XGBOOST_SERVER and the new LIGHTGBM_SERVER: seldon and v2). The
component graphs (graph-*.yaml: a ROUTER, a COMBINER, a TRANSFORMER) run a binary of examples/components with
parameters it accepts, in a container named as its graph node, over children that resolve to oxserve images.
Many models: Seldon Core 2's ServerConfig / Server / Models (the spec fields of its CRDs; oxserve in the container
named `mlserver` on the agent's ports and models folder; capabilities only what oxserve serves, every sample Model's
requirements among them), KServe ModelMesh's ServingRuntime (multiModel, built-in `mlserver` adapter on oxserve's
gRPC port) and a multi-model InferenceService + TrainedModel on an oxserve runtime that starts with no model.
A user's Model.py image from the Python builder (python-iris) is a MODEL node of the folder's SERVICE_TYPE.

Needs PyYAML: run scripts/install-image-tools.sh (it fills .venv-images); this script re-runs itself there.
Prints `N passed, N failed`; exits 1 on any failure.
"""
import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
try:
    import yaml
except ImportError:
    venv_python = REPO / ".venv-images" / "bin" / "python"
    if venv_python.exists() and Path(sys.executable) != venv_python:
        os.execv(str(venv_python), [str(venv_python), *sys.argv])
    sys.exit("test-manifests: PyYAML missing; run scripts/install-image-tools.sh")

K8S = HERE / "k8s"
PROTOCOLS = {"seldon", "v2", "kfserving", "tensorflow"}
# Implementations on oxserve, with the protocols each must cover and the image serving them.
OXSERVE = {
    "SKLEARN_SERVER": ({"seldon", "v2"}, "sklearn-server"),
    "TENSORFLOW_SERVER": ({"seldon", "tensorflow", "v2"}, "onnx-server"),
    "HUGGINGFACE_SERVER": ({"seldon", "v2"}, "candle-server"),
    "PYTORCH_SERVER": ({"seldon", "v2"}, "candle-server"),
    "XGBOOST_SERVER": ({"seldon", "v2"}, "xgboost-server"),
    "LIGHTGBM_SERVER": ({"seldon", "v2"}, "lightgbm-server"),
    "MLFLOW_SERVER": ({"seldon", "v2"}, "mlflow-server"),
}
HELM_DEFAULTS = {  # seldon-core-operator 1.18.2 values.yaml, every entry oxserve does not replace
    "TRITON_SERVER": {"v2": "nvcr.io/nvidia/tritonserver:21.08-py3"},
    "TEMPO_SERVER": {"v2": "seldonio/mlserver:1.3.5-slim"},
}
# A Kubernetes resource.Quantity: decimal number, then a binary/decimal SI suffix or a decimal exponent.
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
SCALE = {None: 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
# An image reference: [registry[:port]/]path[:tag][@digest], lower-case path components.
IMAGE_REF = re.compile(r"^([a-z0-9.-]+(:\d+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
                       r"(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$")

passed = failed = 0


def check(name, fn):
    """Runs one named check; an AssertionError or any other exception is a failure with its message."""
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   - {name}")
    except Exception as e:  # noqa: BLE001 - a test report, every failure counts
        failed += 1
        print(f"FAIL - {name}: {type(e).__name__}: {e}")


def quantity(s):
    assert isinstance(s, str), f"quantity {s!r} must be a string"
    m = QUANTITY.match(s)
    assert m, f"{s!r} is not a Kubernetes quantity"
    suffix = m.group(3)
    number = float(s[: len(s) - len(suffix or "")])
    if suffix and suffix[0] in "eE" and len(suffix) > 1:
        return number * 10 ** int(suffix[1:])
    return number * SCALE[suffix]


def image_of(entry):
    """The operator's rule: image + ":" + defaultImageVersion, or image verbatim when the version is empty."""
    return entry["image"] + (":" + entry["defaultImageVersion"] if entry["defaultImageVersion"] else "")


def load(name):
    return list(yaml.safe_load_all((K8S / name).read_text()))


config, = load("seldon-config.yaml")
data = config.get("data", {})
servers = {}
storage = {}


def config_map_identity():
    assert config["apiVersion"] == "v1" and config["kind"] == "ConfigMap", (config["apiVersion"], config["kind"])
    assert config["metadata"]["name"] == "seldon-config", config["metadata"]["name"]
    assert config["metadata"].get("namespace", "seldon-system") == "seldon-system"


def config_map_keys_are_json():
    for key in ("predictor_servers", "storageInitializer", "credentials", "explainer"):
        assert isinstance(data.get(key), str), f"data.{key} must be a JSON string"
        json.loads(data[key])
    servers.update(json.loads(data["predictor_servers"]))
    storage.update(json.loads(data["storageInitializer"]))


def predictor_servers_shape():
    assert servers, "predictor_servers is empty"
    for impl, entry in servers.items():
        assert set(entry) == {"protocols"}, f"{impl}: keys {sorted(entry)}, want only protocols"
        protocols = entry["protocols"]
        assert protocols and set(protocols) <= PROTOCOLS, f"{impl}: protocols {sorted(protocols)} not in {PROTOCOLS}"
        for proto, p in protocols.items():
            assert set(p) == {"image", "defaultImageVersion"}, f"{impl}.{proto}: keys {sorted(p)}"
            assert isinstance(p["image"], str) and p["image"], f"{impl}.{proto}: empty image"
            assert isinstance(p["defaultImageVersion"], str), f"{impl}.{proto}: version must be a string"
            assert IMAGE_REF.match(image_of(p)), f"{impl}.{proto}: bad image reference {image_of(p)!r}"


def helm_defaults_kept():
    for impl, want in HELM_DEFAULTS.items():
        got = {proto: image_of(p) for proto, p in servers.get(impl, {}).get("protocols", {}).items()}
        assert got == want, f"{impl}: {got} != Helm default {want}"


def oxserve_implementations():
    for impl, (want_protocols, image) in OXSERVE.items():
        protocols = servers[impl]["protocols"]
        assert set(protocols) == want_protocols, f"{impl}: {sorted(protocols)}"
        images = {image_of(p) for p in protocols.values()}
        assert len(images) == 1, f"{impl}: every protocol should be the one oxserve image: {images}"
        assert f"/{image}:" in images.pop(), f"{impl} should use {image}"


def storage_initializer_entry():
    assert set(storage) == {"image", "cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit"}, sorted(storage)
    assert IMAGE_REF.match(storage["image"]) and "storage-initializer" in storage["image"], storage["image"]
    assert quantity(storage["cpuRequest"]) <= quantity(storage["cpuLimit"]), "cpu request above limit"
    assert quantity(storage["memoryRequest"]) <= quantity(storage["memoryLimit"]), "memory request above limit"


sdep, = load("iris-seldondeployment.yaml")


def seldon_deployment_is_the_seed():
    assert sdep["apiVersion"] == "machinelearning.seldon.io/v1" and sdep["kind"] == "SeldonDeployment"
    assert sdep["metadata"]["name"] == "iris-model", sdep["metadata"]["name"]
    predictor, = sdep["spec"]["predictors"]
    assert predictor["name"] == "default", predictor["name"]
    assert "componentSpecs" not in predictor, "the seed has no componentSpecs: the image comes from the ConfigMap"
    graph = predictor["graph"]
    assert graph["implementation"] == "SKLEARN_SERVER", graph["implementation"]
    assert graph["modelUri"] == "gs://seldon-models/v1.16.0-dev/sklearn/iris", graph["modelUri"]
    assert graph["name"] == "classifier", graph["name"]


def seldon_deployment_resolves_to_oxserve():
    protocol = sdep["spec"].get("protocol") or "seldon"
    implementation = sdep["spec"]["predictors"][0]["graph"]["implementation"]
    entry = servers[implementation]["protocols"][protocol]
    assert "sklearn-server" in image_of(entry), image_of(entry)


runtime, = load("kserve-clusterservingruntime.yaml")


def serving_runtime_formats_and_protocol():
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1" and runtime["kind"] == "ClusterServingRuntime"
    spec = runtime["spec"]
    formats = {f["name"] for f in spec["supportedModelFormats"]}
    assert "sklearn" in formats, formats
    assert {"v1", "v2", "grpc-v2"} <= set(spec["protocolVersions"]), spec["protocolVersions"]
    assert set(spec["protocolVersions"]) <= {"v1", "v2", "grpc-v1", "grpc-v2"}, spec["protocolVersions"]


def flags_of(container):
    """A container's `--name=value` arguments as a dict (every argument must have that form)."""
    args = container.get("args", [])
    assert all(a.startswith("--") and "=" in a for a in args), args
    return dict(a[2:].split("=", 1) for a in args)


def serving_runtime_container():
    container, = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container", container["name"]
    assert container["image"] == image_of(servers["SKLEARN_SERVER"]["protocols"]["v2"]), container["image"]
    port = str(container["ports"][0]["containerPort"])
    # KServe's kserve-sklearnserver container's arguments, plus the gRPC port.
    assert flags_of(container) == {"model_name": "{{.Name}}", "model_dir": "/mnt/models", "http_port": port,
                                   "grpc_port": "9000"}, container["args"]
    env = {e["name"]: e["value"] for e in container["env"]}
    metrics = runtime["spec"]["annotations"]["prometheus.kserve.io/port"]
    assert env.get("PREDICTIVE_UNIT_METRICS_SERVICE_PORT") == metrics, (env, metrics)
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            quantity(str(container["resources"][kind][res]))


def other_runtime(file, name, fmt, protocols):
    rt, = load(file)
    assert rt["kind"] == "ClusterServingRuntime" and rt["metadata"]["name"] == name, rt["metadata"]
    spec = rt["spec"]
    assert fmt in {f["name"] for f in spec["supportedModelFormats"]}, spec["supportedModelFormats"]
    assert set(spec["protocolVersions"]) == protocols, spec["protocolVersions"]
    container, = spec["containers"]
    assert container["name"] == "kserve-container", container["name"]
    impl = {"onnx": "TENSORFLOW_SERVER", "huggingface": "HUGGINGFACE_SERVER", "xgboost": "XGBOOST_SERVER",
            "lightgbm": "LIGHTGBM_SERVER", "mlflow": "MLFLOW_SERVER"}[fmt]
    assert container["image"] == image_of(servers[impl]["protocols"]["v2"]), container["image"]
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    assert env.get("PREDICTIVE_UNIT_METRICS_SERVICE_PORT") == spec["annotations"]["prometheus.kserve.io/port"], env
    port = str(container["ports"][0]["containerPort"])
    args = container.get("args", [])
    if args:  # started as KServe starts tensorflow_model_server
        flags = flags_of(container)
        assert flags["rest_api_port"] == port and flags["model_base_path"] == "/mnt/models", flags
        assert flags["model_name"] == "{{.Name}}", flags
    else:
        assert env.get("MLSERVER_HTTP_PORT") == env.get("PREDICTIVE_UNIT_HTTP_SERVICE_PORT") == port, env
        assert env.get("MLSERVER_MODEL_URI") == "/mnt/models", env
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


# KServe's own ClusterServingRuntimes (config/runtimes/*.yaml at kserve/kserve aaac4e2, the facts selection reads:
# formats with version, autoSelect and priority, protocols), installed beside oxserve's by KServe's Helm chart.
KSERVE_RUNTIMES = [
    {"name": "kserve-sklearnserver", "protocolVersions": ["v1", "v2"],
     "supportedModelFormats": [{"name": "sklearn", "version": "1", "autoSelect": True, "priority": 1}]},
    {"name": "kserve-xgbserver", "protocolVersions": ["v1", "v2"],
     "supportedModelFormats": [{"name": "xgboost", "version": "2", "autoSelect": True, "priority": 1}]},
    {"name": "kserve-lgbserver", "protocolVersions": ["v1", "v2"],
     "supportedModelFormats": [{"name": "lightgbm", "version": "4", "autoSelect": True, "priority": 1}]},
    {"name": "kserve-huggingfaceserver", "protocolVersions": ["v2", "v1"],
     "supportedModelFormats": [{"name": "huggingface", "version": "1", "autoSelect": True, "priority": 1}]},
    {"name": "kserve-mlserver", "protocolVersions": ["v2"],
     "supportedModelFormats": [{"name": n, "version": v, "autoSelect": True, "priority": p} for n, v, p in [
         ("sklearn", "0", 2), ("sklearn", "1", 2), ("xgboost", "1", 2), ("xgboost", "2", 2), ("lightgbm", "3", 2),
         ("lightgbm", "4", 2), ("mlflow", "1", 1), ("mlflow", "2", 1)]]},
    {"name": "kserve-tritonserver", "protocolVersions": ["v2", "grpc-v2"],
     "supportedModelFormats": [{"name": "onnx", "version": "1", "autoSelect": True, "priority": 1}]},
]
# KServe's quickstart InferenceService ("First InferenceService"), verbatim.
QUICKSTART = """
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "sklearn-iris"
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storageUri: "gs://kfserving-examples/models/sklearn/1.0/model"
"""
PROTOCOL_ORDER = {"v1": 1, "v2": 2, "grpc-v1": 3, "grpc-v2": 4}  # pkg/constants: ProtocolVersion iota


def oxserve_runtimes():
    """Every ClusterServingRuntime in images/k8s, as (file, spec with its name)."""
    found = []
    for path in sorted(K8S.glob("kserve-*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ClusterServingRuntime":
                found.append((path.name, {"name": doc["metadata"]["name"], **doc["spec"]}))
    return found


def select_runtime(model, runtimes):
    """KServe's controller's choice (pkg/apis/serving/v1beta1/predictor_model.go GetSupportingRuntimes, for
    cluster runtimes with no `runtime` named): runtimes sorted by their lowest protocol, then name (no creation
    times here); kept when not disabled, single-model, single-node, listing the model's format label (`mt:name`,
    or `mt:name:version` when the model gives a version) among its autoSelect formats, and the model's protocol
    (default v1) or no protocols at all; then stably sorted by the format's priority, highest first (a runtime
    with a priority before one without). The first is selected."""
    fmt = model["modelFormat"]
    label = f"mt:{fmt['name']}" + (f":{fmt['version']}" if fmt.get("version") else "")
    protocol = model.get("protocolVersion") or "v1"
    ordered = sorted(runtimes, key=lambda r: (min((PROTOCOL_ORDER.get(p, 5) for p in r.get("protocolVersions") or []),
                                                   default=5), r["name"]))
    kept = []
    for rt in ordered:
        labels = set()
        for f in rt["supportedModelFormats"]:
            if f.get("autoSelect"):
                labels.add(f"mt:{f['name']}")
                if f.get("version"):
                    labels.add(f"mt:{f['name']}:{f['version']}")
        protocols = rt.get("protocolVersions") or []
        if (not rt.get("disabled") and not rt.get("multiModel") and "workerSpec" not in rt and label in labels
                and (not protocols or protocol in protocols)):
            kept.append(rt)

    def priority(rt):
        for f in rt["supportedModelFormats"]:
            if f["name"] == fmt["name"]:
                return f.get("priority")
        return None
    kept.sort(key=lambda rt: (priority(rt) is None, -(priority(rt) or 0)))
    assert kept, f"no runtime supports {label} over {protocol}"
    return kept[0]["name"]


def every_kserve_runtime_lists_v1_v2_grpc_v2():
    runtimes = oxserve_runtimes()
    assert len(runtimes) >= 5, [f for f, _ in runtimes]
    for file, spec in runtimes:
        assert {"v1", "v2", "grpc-v2"} <= set(spec["protocolVersions"]), (file, spec["protocolVersions"])


def quickstart_selects_oxserve():
    ours = [spec for _, spec in oxserve_runtimes()]
    everything = KSERVE_RUNTIMES + ours
    isvc = yaml.safe_load(QUICKSTART)
    model = isvc["spec"]["predictor"]["model"]
    assert "protocolVersion" not in model
    assert select_runtime(model, everything) == "oxserve-sklearn"
    # Without oxserve's, KServe's own sklearnserver serves it (the rules pick what KServe picks).
    assert select_runtime(model, KSERVE_RUNTIMES) == "kserve-sklearnserver"
    for fmt, version, protocol, want in [
            ("sklearn", "1", "v2", "oxserve-sklearn"), ("sklearn", "1", None, "oxserve-sklearn"),
            ("xgboost", "2", None, "oxserve-xgboost"), ("xgboost", None, "v2", "oxserve-xgboost"),
            ("lightgbm", "4", None, "oxserve-lightgbm"), ("huggingface", None, None, "oxserve-huggingface"),
            ("onnx", None, "v2", "oxserve-onnx"), ("mlflow", "2", None, "oxserve-mlflow"),
            ("mlflow", None, "v2", "oxserve-mlflow")]:
        m = {"modelFormat": {"name": fmt, **({"version": version} if version else {})},
             **({"protocolVersion": protocol} if protocol else {})}
        assert select_runtime(m, everything) == want, (m, select_runtime(m, everything))


def example_deployments_resolve():
    for file, impl, image in [("tensorflow-seldondeployment.yaml", "TENSORFLOW_SERVER", "onnx-server"),
                              ("huggingface-seldondeployment.yaml", "HUGGINGFACE_SERVER", "candle-server"),
                              ("xgboost-seldondeployment.yaml", "XGBOOST_SERVER", "xgboost-server"),
                              ("mlflow-seldondeployment.yaml", "MLFLOW_SERVER", "mlflow-server")]:
        dep, = load(file)
        assert dep["kind"] == "SeldonDeployment", dep["kind"]
        graph = dep["spec"]["predictors"][0]["graph"]
        assert graph["implementation"] == impl, graph["implementation"]
        protocol = dep["spec"].get("protocol") or "seldon"
        assert f"/{image}:" in image_of(servers[impl]["protocols"][protocol]), (file, protocol)


# Seldon Core 2's CRDs (operator/config/crd/bases/mlops.seldon.io_*.yaml at seldon-core 7b77f8b, group
# mlops.seldon.io, version v1alpha1): the spec fields each kind accepts and those it requires.
SC2_SPEC = {
    "ServerConfig": ({"podSpec", "volumeClaimTemplates"}, {"podSpec"}),
    "Server": ({"capabilities", "deploymentStrategy", "disableAutoUpdate", "extraCapabilities", "imageOverrides",
                "maxReplicas", "minReplicas", "podSpec", "replicas", "serverConfig",
                "statefulSetPersistentVolumeClaimRetentionPolicy"}, {"serverConfig"}),
    "Model": ({"artifactVersion", "dataflow", "dedicated", "explainer", "llm", "logger", "maxReplicas", "memory",
               "minReplicas", "modelType", "parameters", "preloaded", "replicas", "requirements", "schemaUri",
               "secretName", "server", "storageUri"}, {"storageUri"}),
}
# What the agent's model-settings writer maps (scheduler/pkg/agent/repository/mlserver/settings.go) and what
# oxserve serves of it; `oxserve` is oxserve's own capability (models whose settings name an oxserve runtime).
OXSERVE_CAPABILITIES = {"sklearn", "xgboost", "lightgbm", "mlflow", "oxserve"}
sc2 = {}


def sc2_documents_match_the_crds():
    for doc in load("seldon-core-2-oxserve.yaml"):
        assert doc["apiVersion"] == "mlops.seldon.io/v1alpha1", doc["apiVersion"]
        fields, required = SC2_SPEC[doc["kind"]]
        spec = doc["spec"]
        assert set(spec) <= fields, f"{doc['kind']}: unknown spec fields {sorted(set(spec) - fields)}"
        assert required <= set(spec), f"{doc['kind']}: missing {sorted(required - set(spec))}"
        sc2.setdefault(doc["kind"], []).append(doc)
    assert len(sc2["ServerConfig"]) == 1 and len(sc2["Server"]) == 1, {k: len(v) for k, v in sc2.items()}


def sc2_server_config_runs_oxserve_as_mlserver():
    config, = sc2["ServerConfig"]
    containers = {c["name"]: c for c in config["spec"]["podSpec"]["containers"]}
    assert {"rclone", "agent", "mlserver"} <= set(containers), sorted(containers)
    server = containers["mlserver"]
    assert re.search(r"/oxserve:", server["image"]) and IMAGE_REF.match(server["image"]), server["image"]
    env = {e["name"]: e.get("value") for e in server["env"]}
    agent = {e["name"]: e for e in containers["agent"]["env"]}
    assert env["MLSERVER_MODELS_DIR"].startswith("/mnt/agent/"), env
    assert env["MLSERVER_LOAD_MODELS_AT_STARTUP"] == "false", env
    assert env["MLSERVER_HTTP_PORT"] == agent["SELDON_SERVER_HTTP_PORT"]["value"], env
    assert env["MLSERVER_GRPC_PORT"] == agent["SELDON_SERVER_GRPC_PORT"]["value"], env
    ports = {p["name"]: str(p["containerPort"]) for p in server["ports"]}
    assert ports["server-http"] == env["MLSERVER_HTTP_PORT"] and ports["server-grpc"] == env["MLSERVER_GRPC_PORT"]
    ref = agent["MEMORY_REQUEST"]["valueFrom"]["resourceFieldRef"]
    assert ref["containerName"] == "mlserver" and ref["resource"] == "requests.memory", ref
    quantity(server["resources"]["requests"]["memory"])
    caps = set(agent["SELDON_SERVER_CAPABILITIES"]["value"].split(","))
    assert caps == OXSERVE_CAPABILITIES, caps
    mounts = {m["name"]: m for m in server["volumeMounts"]}
    assert mounts["mlserver-models"]["mountPath"] == "/mnt/agent" and mounts["mlserver-models"]["readOnly"]


def sc2_server_and_models_place_on_oxserve():
    server, = sc2["Server"]
    assert server["spec"]["serverConfig"] == sc2["ServerConfig"][0]["metadata"]["name"]
    caps = set(server["spec"]["capabilities"])
    assert caps == OXSERVE_CAPABILITIES and not caps & {"python", "mlserver"}, caps
    models = {m["metadata"]["name"]: m["spec"] for m in sc2["Model"]}
    assert models["iris"]["requirements"] == ["sklearn"], models["iris"]
    assert any(m.get("requirements") == ["xgboost"] for m in models.values()), models
    for name, spec in models.items():
        # The scheduler's filter: every requirement among the server's capabilities.
        assert set(spec["requirements"]) <= caps, (name, spec["requirements"])
        if "memory" in spec:
            quantity(str(spec["memory"]))


def modelmesh_runtime():
    rt, = load("modelmesh-oxserve-runtime.yaml")
    assert rt["apiVersion"] == "serving.kserve.io/v1alpha1" and rt["kind"] == "ServingRuntime", rt["kind"]
    spec = rt["spec"]
    assert spec["multiModel"] is True, spec.get("multiModel")
    adapter = spec["builtInAdapter"]
    assert adapter["serverType"] == "mlserver", adapter
    container, = spec["containers"]
    assert re.search(r"/oxserve:", container["image"]), container["image"]
    env = {e["name"]: e["value"] for e in container["env"]}
    # The adapter talks to the server's gRPC port; ModelMesh forwards inference to grpcDataEndpoint.
    assert str(adapter["runtimeManagementPort"]) == env["MLSERVER_GRPC_PORT"], (adapter, env)
    assert spec["grpcDataEndpoint"] == f"port:{env['MLSERVER_GRPC_PORT']}", spec["grpcDataEndpoint"]
    assert spec["grpcEndpoint"] != spec["grpcDataEndpoint"]
    assert env["MLSERVER_LOAD_MODELS_AT_STARTUP"] == "false" and env["MLSERVER_MODELS_DIR"], env
    assert spec["protocolVersions"] == ["grpc-v2"], spec["protocolVersions"]
    assert {f["name"] for f in spec["supportedModelFormats"]} <= {"sklearn", "xgboost", "lightgbm"}


def kserve_multimodel_example():
    docs = load("kserve-multimodel-oxserve.yaml")
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"ClusterServingRuntime", "InferenceService", "TrainedModel"}, sorted(kinds)
    rt, isvc, tm = kinds["ClusterServingRuntime"], kinds["InferenceService"], kinds["TrainedModel"]
    container, = rt["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLSERVER_MODELS_DIR"] == "/mnt/models" and env["MLSERVER_LOAD_MODELS_AT_STARTUP"] == "false", env
    assert "MLSERVER_MODEL_URI" not in env, "a multi-model server starts with no model of its own"
    assert not any(f.get("autoSelect") for f in rt["spec"]["supportedModelFormats"]), "named, never auto-selected"
    model = isvc["spec"]["predictor"]["model"]
    assert "storageUri" not in model, "KServe serves TrainedModels only on an InferenceService without storageUri"
    assert model["runtime"] == rt["metadata"]["name"], model
    assert tm["apiVersion"] == "serving.kserve.io/v1alpha1", tm["apiVersion"]
    assert tm["spec"]["inferenceService"] == isvc["metadata"]["name"], tm["spec"]
    assert tm["spec"]["model"]["framework"] == model["modelFormat"]["name"], tm["spec"]
    assert set(tm["spec"]["model"]) == {"storageUri", "framework", "memory"}, tm["spec"]["model"]
    quantity(tm["spec"]["model"]["memory"])


# The component graphs: file -> (graph node type, the examples/components binary it runs, the children's
# implementations). Their component image is built from examples/components/Containerfile.
GRAPHS = {
    "graph-router-seldondeployment.yaml": ("ROUTER", "epsilon-greedy-router", ["SKLEARN_SERVER", "XGBOOST_SERVER"]),
    "graph-combiner-seldondeployment.yaml": ("COMBINER", "average-combiner", ["SKLEARN_SERVER", "SKLEARN_SERVER"]),
    "graph-transformer-seldondeployment.yaml": ("TRANSFORMER", "iris-transformer", ["SKLEARN_SERVER"]),
}
COMPONENTS = REPO / "examples" / "components" / "src" / "bin"
PARAMETER_TYPES = {"INT": int, "FLOAT": float, "DOUBLE": float, "STRING": str, "BOOL": lambda v: v in ("true", "false")}


def binary_parameters(binary):
    """The parameter names a component binary accepts: its `Server { parameters: &[...] }`."""
    source = (COMPONENTS / f"{binary}.rs").read_text()
    m = re.search(r"parameters:\s*&\[([^\]]*)\]", source)
    assert m, f"{binary}.rs declares no parameters"
    return set(re.findall(r'"([^"]+)"', m.group(1)))


def graph_deployment(file, node_type, binary, children):
    dep, = load(file)
    assert dep["apiVersion"] == "machinelearning.seldon.io/v1" and dep["kind"] == "SeldonDeployment", file
    predictor, = dep["spec"]["predictors"]
    graph = predictor["graph"]
    assert graph.get("type") == node_type, (graph.get("type"), node_type)
    assert "implementation" not in graph, "a component node runs its own container, not a prepackaged server"
    # The operator pairs a graph node with the container of the same name in componentSpecs.
    containers = [c for spec in predictor["componentSpecs"] for c in spec["spec"]["containers"]]
    container, = [c for c in containers if c["name"] == graph["name"]]
    assert IMAGE_REF.match(container["image"]) and "/components:" in container["image"], container["image"]
    assert container["command"] == [f"/{binary}"], container["command"]
    assert (COMPONENTS / f"{binary}.rs").exists(), f"examples/components has no binary {binary}"
    accepted = binary_parameters(binary) | {"model_uri"}
    for p in graph.get("parameters", []):
        assert p["name"] in accepted, f"{binary} refuses parameter {p['name']} (accepts {sorted(accepted)})"
        assert isinstance(p["value"], str), f"parameter {p['name']}: the operator passes values as strings"
        assert PARAMETER_TYPES[p["type"]](p["value"]) is not False, f"{p['name']}={p['value']!r} is no {p['type']}"
    got = [c["implementation"] for c in graph["children"]]
    assert got == children, (got, children)
    names = [graph["name"]] + [c["name"] for c in graph["children"]]
    assert len(set(names)) == len(names), f"graph node names repeat: {names}"
    protocol = dep["spec"].get("protocol") or "seldon"
    for child in graph["children"]:
        assert child["modelUri"].startswith("gs://"), child["modelUri"]
        image = image_of(servers[child["implementation"]]["protocols"][protocol])
        assert "oxserve" in image, f"{child['implementation']} runs {image}, not an oxserve image"


def python_component_deployment():
    """The user's Model.py image (images/python-builder) as a graph node: the node's type is the folder's
    SERVICE_TYPE, no implementation, and the container of its name runs the image's own CMD (the s2i run script)."""
    dep, = load("python-iris-seldondeployment.yaml")
    assert dep["apiVersion"] == "machinelearning.seldon.io/v1" and dep["kind"] == "SeldonDeployment", dep["kind"]
    predictor, = dep["spec"]["predictors"]
    graph = predictor["graph"]
    folder = REPO / "examples" / "python-iris"
    env = dict(line.split("=", 1) for line in (folder / ".s2i" / "environment").read_text().split())
    assert graph.get("type") == env["SERVICE_TYPE"], (graph.get("type"), env)
    assert (folder / f"{env['MODEL_NAME']}.py").exists(), env["MODEL_NAME"]
    assert "implementation" not in graph and "modelUri" not in graph, graph
    containers = [c for spec in predictor["componentSpecs"] for c in spec["spec"]["containers"]]
    container, = [c for c in containers if c["name"] == graph["name"]]
    assert IMAGE_REF.match(container["image"]), container["image"]
    assert "command" not in container and "args" not in container, "the image's CMD is the s2i run script"


for name, fn in [
    ("seldon-config is the operator's ConfigMap", config_map_identity),
    ("seldon-config keys hold JSON", config_map_keys_are_json),
    ("predictor_servers has the shape the operator reads", predictor_servers_shape),
    ("predictor_servers keeps the Helm defaults", helm_defaults_kept),
    ("SKLEARN_SERVER, TENSORFLOW_SERVER, HUGGINGFACE_SERVER, PYTORCH_SERVER, XGBOOST_SERVER, LIGHTGBM_SERVER, MLFLOW_SERVER use oxserve",
     oxserve_implementations),
    ("storageInitializer image and four quantities", storage_initializer_entry),
    ("SeldonDeployment is the seed's iris", seldon_deployment_is_the_seed),
    ("SeldonDeployment resolves to the oxserve image", seldon_deployment_resolves_to_oxserve),
    ("ClusterServingRuntime: sklearn, v1/v2 REST + v2 gRPC", serving_runtime_formats_and_protocol),
    ("ClusterServingRuntime container env and ports", serving_runtime_container),
    ("ClusterServingRuntime oxserve-onnx: onnx, v1/v2 REST+gRPC, TF Serving flags",
     lambda: other_runtime("kserve-onnx-runtime.yaml", "oxserve-onnx", "onnx", {"v1", "v2", "grpc-v1", "grpc-v2"})),
    ("ClusterServingRuntime oxserve-huggingface: huggingface, v1/v2 REST + v2 gRPC",
     lambda: other_runtime("kserve-huggingface-runtime.yaml", "oxserve-huggingface", "huggingface",
                           {"v1", "v2", "grpc-v2"})),
    ("ClusterServingRuntime oxserve-xgboost: xgboost, v1/v2 REST + v2 gRPC",
     lambda: other_runtime("kserve-xgboost-runtime.yaml", "oxserve-xgboost", "xgboost", {"v1", "v2", "grpc-v2"})),
    ("ClusterServingRuntime oxserve-lightgbm: lightgbm, v1/v2 REST + v2 gRPC",
     lambda: other_runtime("kserve-lightgbm-runtime.yaml", "oxserve-lightgbm", "lightgbm", {"v1", "v2", "grpc-v2"})),
    ("ClusterServingRuntime oxserve-mlflow: mlflow, v1/v2 REST + v2 gRPC",
     lambda: other_runtime("kserve-mlflow-runtime.yaml", "oxserve-mlflow", "mlflow", {"v1", "v2", "grpc-v2"})),
    ("TENSORFLOW_SERVER, HUGGINGFACE_SERVER, XGBOOST_SERVER and MLFLOW_SERVER examples resolve to oxserve", example_deployments_resolve),
    ("every KServe ClusterServingRuntime lists v1, v2 and grpc-v2", every_kserve_runtime_lists_v1_v2_grpc_v2),
    ("KServe's quickstart InferenceService (sklearn-iris, v1) selects oxserve-sklearn", quickstart_selects_oxserve),
    ("Seldon Core 2 ServerConfig, Server and Models fit their CRDs", sc2_documents_match_the_crds),
    ("Seldon Core 2 ServerConfig runs oxserve in the container named mlserver", sc2_server_config_runs_oxserve_as_mlserver),
    ("Seldon Core 2 Server advertises only oxserve's capabilities; the sample Models place on it",
     sc2_server_and_models_place_on_oxserve),
    ("KServe ModelMesh ServingRuntime: multiModel, built-in mlserver adapter on oxserve's gRPC port", modelmesh_runtime),
    ("KServe multi-model InferenceService + TrainedModel on oxserve", kserve_multimodel_example),
    ("python-iris: the user's Model.py image (images/python-builder) as a MODEL node", python_component_deployment),
    *[(f"{file}: a {t} from examples/components over oxserve models", lambda f=file, g=g: graph_deployment(f, *g))
      for file, g in GRAPHS.items() for t in [g[0]]],
]:
    check(name, fn)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
