"""The exported policy as an ONNX model, for runtimes without JAX (onnxruntime on a robot, as
MuJoCo Playground's deployments run their policies). Needs the `onnx` extra: `pip install 'gpu_sac[onnx]'`.

The graph is the deterministic policy of `load_policy`, written op by op from the parameter arrays
with onnx's helper API (no converter, so nothing to trace and no converter version to track):

    obs (batch, obs_dim) float32
    → (obs − mean) / sqrt(var + 1e-8), clipped to ±10      the run's observation statistics, if any
    → obs[:, start:stop]                                   the actor's columns (asymmetric actor-critic)
    → [MatMul → Add → (LayerNormalization) → activation] per hidden layer
    → MatMul → Add → Tanh                                  the mean head: tanh(mean)
    → low + (a + 1)·0.5·(high − low)                       the env's action bounds
    → action (batch, act_dim) float32

The batch axis is dynamic. Opset 17 (LayerNormalization's first), IR version 8, so that older
runtimes load it too. Supported: every actor_activation (relu, silu, elu, gelu (tanh approximation,
flax's default), tanh), actor_layer_norm, any hidden sizes. Refused (OnnxExportError): compute_dtype
"bfloat16", whose bfloat16 matmuls a float32 graph would not reproduce.

    from gpu_sac.outputs.onnx_export import export_onnx
    export_onnx("runs/pendulum_s0_...")                      # → runs/.../policy/policy.onnx
    import onnxruntime as ort
    action = ort.InferenceSession("policy.onnx").run(None, {"obs": obs})[0]
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gpu_sac.store.run_dir import write_atomic

ONNX_FILE = "policy.onnx"
OPSET = 17
IR_VERSION = 8
INPUT, OUTPUT = "obs", "action"
MISSING = "ONNX export needs the onnx package: pip install 'gpu_sac[onnx]'"


class OnnxExportError(ValueError):
    """A policy that this exporter cannot write faithfully (the message says what and why)."""


def available() -> bool:
    """Whether the onnx package is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("onnx") is not None


class _Graph:
    """The nodes and constants of an ONNX graph being built; each method returns its output's name."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.consts: list[Any] = []

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        self.consts.append(self._numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(self._helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


def _check_supported(meta: dict[str, Any]) -> str:
    """The actor's activation; OnnxExportError for what the graph cannot reproduce."""
    if meta.get("compute_dtype", "float32") != "float32":
        raise OnnxExportError(f"compute_dtype={meta['compute_dtype']!r} is not supported by the ONNX export: the "
                              "graph computes in float32 and would not reproduce the policy's bfloat16 matmuls")
    activation = meta.get("actor_activation", "relu")
    if activation not in _ACTIVATIONS:
        raise OnnxExportError(f"actor_activation={activation!r} is not supported by the ONNX export "
                              f"(supported: {', '.join(_ACTIVATIONS)})")
    return activation


def _actor_input(g: _Graph, params: Any, meta: dict[str, Any], x: str) -> str:
    """Normalised observations (as normalizer.normalize), cut to the actor's columns (asymmetric actors)."""
    if params.obs_stats is not None:
        # The same float32 arithmetic as normalizer.normalize: sqrt(var + 1e-8) rounds alike here.
        mean = np.asarray(params.obs_stats.mean, np.float32)
        std = np.sqrt(np.asarray(params.obs_stats.var, np.float32) + np.float32(1e-8))
        x = g.node("Sub", [x, g.const("obs_mean", mean)], "centred")
        x = g.node("Div", [x, g.const("obs_std", std)], "scaled")
        x = g.node("Clip", [x, g.const("clip_low", -_clip()), g.const("clip_high", _clip())], "normalized")
    if meta.get("actor_obs") is not None:
        start, stop = (int(c) for c in meta["actor_obs"])
        cols = [g.const(n, [v], np.int64) for v, n in ((start, "cols_start"), (stop, "cols_stop"), (1, "cols_axis"))]
        x = g.node("Slice", [x, *cols], "actor_obs")
    return x


def _actor_mean(g: _Graph, tree: dict[str, Any], layers: list[Any], activation: str, x: str) -> str:
    """The actor's MLP (Dense, LayerNorm where it has one, activation) and its mean head."""
    for i, (dense, norm) in enumerate(layers):
        x = g.node("MatMul", [x, g.const(f"dense{i}_kernel", dense["kernel"])], f"dense{i}_matmul")
        x = g.node("Add", [x, g.const(f"dense{i}_bias", dense["bias"])], f"dense{i}")
        if norm is not None:
            # flax's LayerNorm: epsilon 1e-6, scale and bias over the last axis.
            x = g.node("LayerNormalization", [x, g.const(f"norm{i}_scale", norm["scale"]),
                                              g.const(f"norm{i}_bias", norm["bias"])], f"norm{i}", axis=-1,
                       epsilon=1e-6)
        x = _ACTIVATIONS[activation](g.node, g.const, x, f"act{i}")
    head = tree["mean"]
    x = g.node("MatMul", [x, g.const("mean_kernel", head["kernel"])], "mean_matmul")
    return g.node("Add", [x, g.const("mean_bias", head["bias"])], "mean")


def _to_bounds(g: _Graph, params: Any, x: str, output: str) -> str:
    """tanh, then scale_action's order of operations: low + (a + 1)·0.5·(high − low)."""
    low, high = (np.asarray(b, np.float32) for b in (params.low, params.high))
    x = g.node("Tanh", [x], "squashed")
    x = g.node("Add", [x, g.const("one", 1.0)], "shifted")
    x = g.node("Mul", [x, g.const("half", 0.5)], "unit")
    x = g.node("Mul", [x, g.const("action_range", high - low)], "ranged")
    return g.node("Add", [g.const("action_low", low), x], output)


def policy_model(params: Any, meta: dict[str, Any]) -> Any:
    """The onnx.ModelProto of the deterministic policy.

    params: a PolicyParams of one agent (actor_params, obs_stats or None, low and high (act_dim,)),
    e.g. `load_policy(run).params`. meta: the policy file's metadata (`load_policy(run).meta`): obs_dim,
    act_dim, actor_obs, actor_activation, actor_layer_norm, compute_dtype, hidden sizes.
    """
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError as e:
        raise ImportError(MISSING) from e

    activation = _check_supported(meta)
    obs_dim, act_dim = int(meta["obs_dim"]), int(meta["act_dim"])
    tree = _numpy(params.actor_params)["params"]
    layers = _hidden_layers(tree["MLP_0"], bool(meta.get("actor_layer_norm", False)), meta)
    g = _Graph()
    x = _actor_mean(g, tree, layers, activation, _actor_input(g, params, meta, INPUT))
    _to_bounds(g, params, x, OUTPUT)
    graph = helper.make_graph(
        g.nodes, "gpu_sac_policy",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", obs_dim])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", act_dim])],
        initializer=g.consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gpu_sac",
                              doc_string="gpu_sac deterministic policy: obs (batch, obs_dim) -> action in the env's "
                                         "bounds (batch, act_dim)")
    model.ir_version = IR_VERSION
    keep = ("format", "env", "obs_dim", "act_dim", "env_steps", "actor_obs", "normalize_observations", "run_dir")
    helper.set_model_props(model, {k: json.dumps(meta.get(k)) for k in keep if k in meta})
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(source: Any, path: str | os.PathLike | None = None, agent: int = 0) -> Path:
    """Write the deterministic policy of `source` as an ONNX file; returns its path.

    source: a run directory, its policy/ directory, a policy.msgpack, or a policy that load_policy
    returned. path: the .onnx file (default: policy.onnx beside policy.msgpack, or policy_agent<i>.onnx
    for agent i > 0). agent: which agent of a multi-seed run (ignored when source is a loaded policy).
    """
    from gpu_sac.outputs.export import load_policy, policy_file

    if not available():
        raise ImportError(MISSING)
    act = source if callable(source) and hasattr(source, "params") else load_policy(source, agent=agent)
    if path is None:
        if callable(source):
            raise ValueError("export_onnx(policy, path): give the output path for a loaded policy")
        name = ONNX_FILE if act.agent == 0 else f"policy_agent{act.agent}.onnx"
        path = policy_file(source).with_name(name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, policy_model(act.params, act.meta).SerializeToString())
    return path


def run_onnx(path: str | os.PathLike, obs: Any) -> np.ndarray:
    """Actions (batch, act_dim) of the ONNX file at `path` for obs (batch, obs_dim), with onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: np.asarray(obs, np.float32)})[0]


# ---------------------------------------------------------------------------------------- pieces


def _clip() -> np.float32:
    from gpu_sac.agent.normalizer import CLIP

    return np.float32(CLIP)


def _numpy(tree: Any) -> Any:
    import jax

    return jax.tree.map(lambda x: np.asarray(x, np.float32), jax.device_get(tree))


def _hidden_layers(mlp: dict[str, Any], layer_norm: bool, meta: dict[str, Any]) -> list[tuple[Any, Any]]:
    """[(Dense params, LayerNorm params or None)] of the actor's trunk, in order, checked against the
    exported hidden sizes (an actor built otherwise than this exporter assumes is refused, not guessed)."""
    n = sum(1 for k in mlp if k.startswith("Dense_"))
    expected = {f"Dense_{i}" for i in range(n)} | ({f"LayerNorm_{i}" for i in range(n)} if layer_norm else set())
    if set(mlp) != expected:
        raise OnnxExportError(f"the actor's layers {sorted(mlp)} are not the Dense[/LayerNorm] trunk the ONNX "
                              f"export writes (expected {sorted(expected)})")
    sizes = meta.get("actor_hidden_sizes") or meta.get("hidden_sizes")
    widths = [int(mlp[f"Dense_{i}"]["kernel"].shape[1]) for i in range(n)]
    if sizes is not None and list(sizes) != widths:
        raise OnnxExportError(f"the actor's layer widths {widths} differ from its hidden sizes {list(sizes)}")
    return [(mlp[f"Dense_{i}"], mlp[f"LayerNorm_{i}"] if layer_norm else None) for i in range(n)]


def _silu(node: Callable, const: Callable, x: str, name: str) -> str:
    return node("Mul", [x, node("Sigmoid", [x], f"{name}_sigmoid")], name)


def _gelu(node: Callable, const: Callable, x: str, name: str) -> str:
    """jax.nn.gelu(approximate=True), flax's nn.gelu: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    cube = node("Mul", [node("Mul", [x, x], f"{name}_sq"), x], f"{name}_cube")
    inner = node("Add", [x, node("Mul", [cube, const(f"{name}_c", 0.044715)], f"{name}_cubic")], f"{name}_inner")
    t = node("Tanh", [node("Mul", [inner, const(f"{name}_k", math.sqrt(2.0 / math.pi))], f"{name}_arg")],
             f"{name}_tanh")
    half = node("Mul", [x, const(f"{name}_half", 0.5)], f"{name}_halfx")
    return node("Mul", [half, node("Add", [t, const(f"{name}_one", 1.0)], f"{name}_onep")], name)


_ACTIVATIONS: dict[str, Callable[[Callable, Callable, str, str], str]] = {
    "relu": lambda node, const, x, name: node("Relu", [x], name),
    "tanh": lambda node, const, x, name: node("Tanh", [x], name),
    "elu": lambda node, const, x, name: node("Elu", [x], name, alpha=1.0),
    "silu": _silu,
    "gelu": _gelu,
}


def check(path: str | os.PathLike, act: Callable, n: int = 256, seed: int = 0) -> float:
    """The largest absolute difference between the ONNX file's actions (onnxruntime) and `act`'s (a
    loaded JAX policy) on n random observations: N(0, 3²) around the run's observation mean, if any."""
    import jax

    obs = 3.0 * np.random.default_rng(seed).normal(size=(n, int(act.meta["obs_dim"]))).astype(np.float32)
    if act.params.obs_stats is not None:
        obs += np.asarray(act.params.obs_stats.mean, np.float32)
    expected = np.asarray(jax.jit(act)(obs))
    return float(np.abs(run_onnx(path, obs) - expected).max())
