"""Frozen BatchNorm folded into the convolution before it, so fine-tuning steps do less work.

A frozen BatchNormalization layer (``trainable = False``: Keras 3 runs it in inference mode) is a
fixed affine map per channel, ``y = x * scale + shift`` with
``scale = gamma / sqrt(variance + eps)`` and ``shift = beta - mean * scale``. After a convolution
it folds into that convolution: ``conv(x, W * scale) + shift`` computes the same thing in one pass
instead of three (the multiplication, the addition and their gradients). ``FoldedConv`` keeps the
original convolution and BatchNorm as its sublayers and reads their variables at every call, so

- training the folded model trains the original model's kernels in place (the same variables, and
  the same parametrization: the optimizer still sees ``W``, scaled at each call as before);
- the BatchNorm statistics stay where they were: recalibrating them later changes the folded model.

``precision="bfloat16"`` runs the folded part in bfloat16 the way Keras' ``mixed_bfloat16`` policy
does (weights float32, computations bfloat16): the folded convolutions and the ReLU, additions and
padding they feed, so activations and their gradients stay bfloat16 from one convolution to the
next; pooling and the head stay float32. The exception: every strided depthwise convolution
computes in float32, because oneDNN's bfloat16 input gradient of those is many times slower than
its float32 one on the 2-core AMD EPYC with ``avx512_bf16`` (``benchmarks/train_step.py --by-op``,
``docs/performance.md``), which is much of why Keras' whole-model policy lost to float32 there.
``precision="auto"`` picks bfloat16 on a CPU with native bfloat16 instructions and no visible GPU,
float32 elsewhere; with nothing to fold, the model stays float32.
"""

from __future__ import annotations

import keras
from keras import ops

from helpers.models.runtime import cpu_flags

PRECISIONS = ("auto", "float32", "bfloat16")
_NATIVE_BF16 = {"avx512_bf16", "amx_bf16"}
_CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
#: weightless layers between convolutions that follow the folded part into bfloat16
_BETWEEN_CONVOLUTIONS = (keras.layers.ReLU, keras.layers.Add, keras.layers.ZeroPadding2D)
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def resolve_precision(precision: str = "auto") -> str:
    """``float32`` or ``bfloat16``: what ``precision`` (``auto``, or one of those) stands for
    here."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {PRECISIONS}")
    if precision != "auto":
        return precision
    import tensorflow as tf

    native = bool(cpu_flags() & _NATIVE_BF16)
    return "bfloat16" if native and not tf.config.list_physical_devices("GPU") else "float32"


@keras.saving.register_keras_serializable(package="helpers")
class FoldedConv(keras.layers.Layer):
    """``norm(conv(x))`` in one convolution, for a frozen ``norm`` after a linear ``conv``
    (``Conv2D`` or ``DepthwiseConv2D``, channels last), sharing both layers' variables. It
    computes in its own dtype policy (``dtype``, the convolution's by default), strided depthwise
    convolutions in float32; under a mixed policy Keras reads the kernel in the compute dtype and
    the BatchNorm statistics in float32."""

    def __init__(self, conv, norm, **kwargs):
        kwargs.setdefault("name", f"{conv.name}_folded")
        kwargs.setdefault("dtype", conv.dtype_policy)
        super().__init__(**kwargs)
        self.conv, self.norm = conv, norm

    def build(self, input_shape):
        if not self.conv.built:
            self.conv.build(input_shape)
        if not self.norm.built:
            self.norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs):
        norm, conv = self.norm, self.conv
        scale = ops.rsqrt(ops.cast(norm.moving_variance, "float32") + norm.epsilon)
        if norm.scale:
            scale = scale * ops.cast(norm.gamma, "float32")
        shift = -ops.cast(norm.moving_mean, "float32") * scale
        if norm.center:
            shift = shift + ops.cast(norm.beta, "float32")
        if conv.use_bias:
            shift = shift + ops.cast(conv.bias, "float32") * scale
        kernel, dtype = ops.cast(conv.kernel, "float32"), self.compute_dtype
        if isinstance(conv, keras.layers.DepthwiseConv2D):
            # oneDNN's bfloat16 input gradient of a strided depthwise convolution is many times
            # slower than its float32 one (docs/performance.md): those compute in float32
            dtype = "float32" if max(conv.strides) > 1 else dtype
            outputs = ops.depthwise_conv(
                ops.cast(inputs, dtype),
                ops.cast(kernel * ops.reshape(scale, kernel.shape[2:]), dtype),
                strides=conv.strides,
                padding=conv.padding,
                data_format=conv.data_format,
                dilation_rate=conv.dilation_rate,
            )
        else:
            outputs = conv.convolution_op(ops.cast(inputs, dtype), ops.cast(kernel * scale, dtype))
        return ops.cast(outputs + ops.cast(shift, dtype), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "conv": keras.saving.serialize_keras_object(self.conv),
            "norm": keras.saving.serialize_keras_object(self.norm),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        conv = keras.saving.deserialize_keras_object(config.pop("conv"))
        norm = keras.saving.deserialize_keras_object(config.pop("norm"))
        return cls(conv, norm, **config)


def foldable_pairs(model: keras.Model) -> dict[str, str]:
    """BatchNorm layer name -> the convolution it folds into: every frozen, channels-last
    BatchNormalization whose only input is a linear convolution whose only consumer it is."""
    layers = {layer.name: layer for layer in model.layers}
    calls = _layer_calls(model)
    consumers: dict[str, int] = {}
    for sources in [
        *(s for calls_of in calls.values() for s in calls_of),
        _producers(model.outputs),
    ]:
        for source in sources:
            consumers[source] = consumers.get(source, 0) + 1
    pairs = {}
    for name, calls_of in calls.items():
        norm = layers.get(name)
        if not isinstance(norm, keras.layers.BatchNormalization) or norm.trainable:
            continue
        if norm.axis not in (-1, 3) or len(calls_of) != 1 or len(calls_of[0]) != 1:
            continue
        conv = layers.get(calls_of[0][0])
        if (
            isinstance(conv, _CONVOLUTIONS)
            and consumers.get(conv.name) == 1
            and conv.data_format == "channels_last"
            and conv.activation is keras.activations.linear
        ):
            pairs[name] = conv.name
    return pairs


def fold_frozen_batchnorm(model: keras.Model, precision: str = "auto") -> keras.Model:
    """``model`` with each frozen BatchNorm folded into its convolution (``foldable_pairs``):
    the same outputs (to float tolerance in float32) and the same variables, so fitting the folded
    model fits ``model``. ``precision``: see the module docstring; the folded model's
    ``folded_precision`` and ``folded_pairs`` say what was done."""
    pairs = foldable_pairs(model)
    chosen = resolve_precision(precision) if pairs else "float32"
    folded = {
        conv: FoldedConv(model.get_layer(conv), model.get_layer(norm), dtype=_POLICIES[chosen])
        for norm, conv in pairs.items()
    }
    between = {}  # a ReLU, Add or padding fed by bfloat16 tensors computes in bfloat16 too

    def call(layer, *args, **kwargs):
        if layer.name in pairs:
            return args[0]
        if isinstance(layer, _BETWEEN_CONVOLUTIONS) and any(
            tensor.dtype == "bfloat16" for tensor in keras.tree.flatten(args)
        ):
            config = {**layer.get_config(), "dtype": _POLICIES["bfloat16"]}
            layer = between.setdefault(layer.name, type(layer).from_config(config))
        return folded.get(layer.name, layer)(*args, **kwargs)

    clone = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    clone.folded_precision, clone.folded_pairs = chosen, len(pairs)
    return clone


def training_precision(model: keras.Model) -> str:
    """What ``model`` trains in, in words: its dtype policy, and what folding did to it."""
    policy = model.dtype_policy.name
    if not hasattr(model, "folded_pairs"):
        return f"the {policy} policy, BatchNorm not folded"
    if model.folded_precision == "float32":
        computed = "everything in float32"
    else:
        computed = "the folded part in bfloat16 (weights in float32), pooling and head in float32"
    return (
        f"{model.folded_pairs} frozen BatchNorm layers folded into their convolutions; {computed}"
    )


def _producers(tensors) -> list[str]:
    """The names of the layers that produced ``tensors``."""
    return [tensor._keras_history.operation.name for tensor in tensors]


def _layer_calls(model: keras.Model) -> dict[str, list[list[str]]]:
    """Layer name -> for each of its calls in ``model``'s graph, the layers feeding it: walked
    back from the outputs, so calls of shared layers in other models do not count."""
    inputs = {id(tensor) for tensor in model.inputs}
    calls: dict[str, list[list[str]]] = {}
    seen, stack = set(), list(model.outputs)
    while stack:
        tensor = stack.pop()
        layer, node_index, _ = tensor._keras_history
        if id(tensor) in inputs or (layer.name, node_index) in seen:
            continue
        seen.add((layer.name, node_index))
        feeding = layer._inbound_nodes[node_index].input_tensors
        calls.setdefault(layer.name, []).append(_producers(feeding))
        stack.extend(feeding)
    return calls
