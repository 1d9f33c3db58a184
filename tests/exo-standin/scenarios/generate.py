#!/usr/bin/env python3
"""Regenerates the scenario files from crates/core/tests/fixtures/exo/state-2node.derived.json
(itself derived from exo's types, not captured). Run: python3 generate.py (from this folder)."""
import copy
import json
import pathlib

HERE = pathlib.Path(__file__).parent
FIXTURES = HERE / "../../../crates/core/tests/fixtures/exo"
BASE = json.loads((FIXTURES / "state-2node.derived.json").read_text())
MODELS = json.loads((FIXTURES / "v1-models.derived.json").read_text())
# A second, bigger card so fit/load tests have something that needs several boxes.
MODELS["data"].append({
    "id": "mlx-community/Qwen3-235B-A22B-4bit", "object": "model", "created": 1782136801, "owned_by": "exo",
    "hugging_face_id": "mlx-community/Qwen3-235B-A22B-4bit", "name": "Qwen3-235B-A22B-4bit", "description": "",
    "context_length": 40960, "tags": [], "storage_size_megabytes": 126976, "supports_tensor": True,
    "tasks": ["TextGeneration"], "is_custom": False, "family": "qwen", "quantization": "4bit",
    "base_model": "Qwen3 235B A22B", "capabilities": ["text"], "reasoning_dialect": "qwen3",
})

STUDIO = "8f3a9c1d2e4b5a6978c0d1e2f3a4b5c6"
MINI = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
THIRD = "c0ffee00c0ffee00c0ffee00c0ffee00"
GHOST = "deadbeefdeadbeefdeadbeefdeadbeef"
INSTANCE = "5d0c6f0e-6a43-4a53-9a3e-2f4f1c8b7a10"
RUNNER_STUDIO = "0b7f1c9e-1111-4c2b-9d1e-aaaaaaaaaaaa"
RUNNER_MINI = "0b7f1c9e-2222-4c2b-9d1e-bbbbbbbbbbbb"


def no_instances(state):
    state = copy.deepcopy(state)
    state["instances"], state["runners"], state["downloads"] = {}, {}, {}
    return state


def tcp(ip):
    return {"sinkMultiaddr": {"address": f"/ip4/{ip}/tcp/52415", "address_type": "ip4", "ip_address": ip, "port": 52415}}


def three_nodes():
    """studio-1 ↔ mini-2 over RDMA (as in the fixture); mini-3 reaches studio-1 over Thunderbolt
    TCP only (RDMA off on it, 40 Gb/s cable) and everyone over Ethernet."""
    state = no_instances(BASE)
    state["topology"]["nodes"].append(THIRD)
    state["topology"]["connections"][STUDIO][THIRD] = [tcp("192.168.1.22"), tcp("169.254.30.12")]
    state["topology"]["connections"][THIRD] = {STUDIO: [tcp("192.168.1.20")], MINI: [tcp("192.168.1.21")]}
    state["topology"]["connections"][MINI][THIRD] = [tcp("192.168.1.22")]
    state["lastSeen"][THIRD] = "2026-06-22T14:00:01.000000Z"
    state["nodeIdentities"][THIRD] = {"modelId": "Mac mini", "chipId": "Apple M4 Pro", "friendlyName": "mini-3",
                                      "osVersion": "26.2", "osBuildVersion": "25C56"}
    state["nodeMemory"][THIRD] = {"ramTotal": {"inBytes": 68719476736}, "ramAvailable": {"inBytes": 60129542144},
                                  "swapTotal": {"inBytes": 0}, "swapAvailable": {"inBytes": 0}}
    state["nodeDisk"][THIRD] = {"total": {"inBytes": 494384795648}, "available": {"inBytes": 300000000000}}
    state["nodeSystem"][THIRD] = {"gpuUsage": 0.0, "temp": 36.5, "sysPower": 9.8, "pcpuUsage": 0.02, "ecpuUsage": 0.05}
    state["nodeNetwork"][THIRD] = {"interfaces": [
        {"name": "en0", "ipAddress": "192.168.1.22", "interfaceType": "ethernet"},
        {"name": "en5", "ipAddress": "169.254.30.12", "interfaceType": "thunderbolt"}]}
    state["nodeThunderbolt"][THIRD] = {"interfaces": [
        {"rdmaInterface": "rdma_en5", "domainUuid": "0A4D6C1E-3F43-4D9B-9E41-5C2F5C6F7A10", "linkSpeed": "40 Gb/s"}]}
    state["nodeThunderboltBridge"][THIRD] = {"enabled": False, "exists": True, "serviceName": "Thunderbolt Bridge"}
    state["nodeRdmaCtl"][THIRD] = {"enabled": False}
    state["nodeBackends"][THIRD] = ["MlxMetal"]
    return state


def with_runners(state, studio_status, mini_status, mini_download=None):
    state = copy.deepcopy(state)
    state["runners"] = {RUNNER_STUDIO: studio_status, RUNNER_MINI: mini_status}
    if mini_download is not None:
        state["downloads"][MINI] = [mini_download]
    return state


def ongoing(downloaded):
    entry = copy.deepcopy(BASE["downloads"][MINI][0])
    entry["DownloadOngoing"]["downloadProgress"]["downloaded"]["inBytes"] = downloaded
    entry["DownloadOngoing"]["downloadProgress"]["downloadedThisSession"]["inBytes"] = downloaded
    return entry


def completed():
    inner = copy.deepcopy(BASE["downloads"][MINI][0]["DownloadOngoing"])
    total = inner.pop("downloadProgress")["total"]
    inner["total"] = total
    inner["readOnly"] = False
    return {"DownloadCompleted": inner}


# What real exo's POST /models/add answered for a local model (real-linux/1node_POST_models_add.body).
REAL = FIXTURES / "real-linux"
LOCAL_MODELS = [json.loads((REAL / "1node_POST_models_add.body").read_text())]


def scenario(steps, **extra):
    return {"node_id": STUDIO, "models": MODELS, "local_models": LOCAL_MODELS, **extra, "steps": steps}


ready = {"RunnerReady": {"prefillServerPort": None}}
ghosted = copy.deepcopy(BASE)
ghosted["nodeIdentities"][GHOST] = {"modelId": "MacBook Pro", "chipId": "Apple M2 Max", "friendlyName": "old-laptop",
                                    "osVersion": "15.6", "osBuildVersion": "24G84"}
ghosted["nodeMemory"][GHOST] = {"ramTotal": {"inBytes": 34359738368}, "ramAvailable": {"inBytes": 20000000000},
                                "swapTotal": {"inBytes": 0}, "swapAvailable": {"inBytes": 0}}
ghosted["lastSeen"][GHOST] = "2026-06-20T09:00:00.000000Z"
leaving = three_nodes()
leaving["topology"]["nodes"].remove(THIRD)
del leaving["topology"]["connections"][THIRD]
for src in leaving["topology"]["connections"].values():
    src.pop(THIRD, None)

SCENARIOS = {
    "two-nodes.json": scenario([{"at_ms": 0, "state": BASE}]),
    "three-nodes-rdma.json": scenario([{"at_ms": 0, "state": three_nodes()}], place_progress_ms=[300, 600, 900]),
    "node-leaves.json": scenario([{"at_ms": 0, "state": three_nodes()}, {"at_ms": 800, "state": leaving}]),
    "ghost-identity.json": scenario([{"at_ms": 0, "state": ghosted}]),
    "election-gap.json": scenario([
        {"at_ms": 0, "state": BASE},
        {"at_ms": 600, "state": {}},
        {"at_ms": 1800, "state": BASE},
    ]),
    "model-progress.json": scenario([
        {"at_ms": 0, "state": with_runners(BASE, {"RunnerIdle": {}}, {"RunnerIdle": {}}, ongoing(200000000))},
        {"at_ms": 400, "state": with_runners(BASE, {"RunnerLoading": {"layersLoaded": 8, "totalLayers": 16}},
                                             {"RunnerLoading": {"layersLoaded": 4, "totalLayers": 16}}, completed())},
        {"at_ms": 800, "state": with_runners(BASE, ready, ready, completed())},
    ]),
    # The survivor of a killed master: exo keeps answering the last state, which stops moving
    # (real-linux/2node_B_state_frozen_after_master_kill_long.json); node_id = the survivor.
    "master-killed.json": {**scenario([
        {"at_ms": 0, "state": BASE},
        {"at_ms": 300, "state": BASE, "frozen": True, "frozen_ago_ms": 60000},
    ]), "node_id": MINI},
    "runner-fails.json": scenario([
        {"at_ms": 0, "state": BASE},
        {"at_ms": 500, "merge": {"runners": {RUNNER_MINI: {
            "RunnerLoading": None,
            "RunnerFailed": {"errorMessage": "[metal::malloc] Attempting to allocate more than the maximum allowed buffer size", "diagnostics": []}}}}},
    ]),
}

for name, body in SCENARIOS.items():
    (HERE / name).write_text(json.dumps(body, indent=1) + "\n")
print("wrote", ", ".join(SCENARIOS))
