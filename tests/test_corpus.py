"""tflkit's ``check --target`` on published models other people made, against the tools' truths.

``tests/corpus/`` is written by ``python bench/corpus.py truth`` and ``commit`` (issue 22):
``MANIFEST.json`` lists every corpus model (id ``source:path``, sha256, source at its commit or
package version, licence, whether the file is committed), ``truths.json`` what the tools did
with each (Vela 5.2 for ethos-u55-128 / u65-256 / u85-256: the operators that stay CPU
operators in the .tflite Vela writes; the tflite-micro interpreter: allocate + invoke on zeros
and its arena total; the LiteRT interpreter: the nodes inside XNNPACK's DELEGATE partitions),
and ``models/`` the models whose licence and size allow committing them. No tool runs here: each test compares tflkit's placement
with the committed truth, one test per model and target.

``KNOWN`` lists what disagrees today (bench/corpus_report.md has every disagreement of the whole
corpus with its reason); those tests are strict xfails, so a fix shows up as an XPASS to remove
from the list, and a new disagreement fails.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import tflkit
from tflkit.targets import place

CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / "MANIFEST.json").read_text())["models"]
TRUTHS: dict[str, Any] = json.loads((CORPUS / "truths.json").read_text())["models"]
COMMITTED = {m["file"]: m for m in MANIFEST if m["committed"]}
TARGETS = ["xnnpack", "ethos-u55", "ethos-u65", "ethos-u85", "tflm", "tflm-arena"]

# (committed model, target) -> why tflkit disagrees with the tool today (bench/corpus_report.md);
# written by `python bench/corpus.py report --known`
# fmt: off
KNOWN: dict[tuple[str, str], str] = {
    ("litert__matmul_quant.tflite", "ethos-u55"): "0:0 BATCH_MATMUL: tflkit ethos-u55, truth CPU (+1)",
    ("litert__rope.tflite", "ethos-u55"): "0:0 RESHAPE: tflkit CPU, truth NPU",
    ("tflm__audio_preprocessor_int8.tflite", "ethos-u55"): "0:15 MUL: tflkit CPU, truth NPU (+2)",
    ("tflm__trained_lstm_int8.tflite", "ethos-u55"): "0:0 UNIDIRECTIONAL_SEQUENCE_LSTM: tflkit CPU, truth NPU",
    ("tflm__keyword_scrambled.tflite", "ethos-u55"): "0:0 QUANTIZE: tflkit ethos-u55, truth CPU (+1)",
    ("tflm__keyword_scrambled_8bit.tflite", "ethos-u55"): "0:0 QUANTIZE: tflkit ethos-u55, truth CPU (+1)",
    ("tflm__person_detect_vela.tflite", "ethos-u55"): "0:0 CUSTOM: tflkit CPU, truth NPU",
    ("tflm__micro_speech_lstm.tflite", "ethos-u55"): "0:0 UNIDIRECTIONAL_SEQUENCE_LSTM: tflkit CPU, truth NPU",
    ("litert__matmul_quant.tflite", "ethos-u65"): "0:0 BATCH_MATMUL: tflkit ethos-u65, truth CPU (+1)",
    ("litert__rope.tflite", "ethos-u65"): "0:0 RESHAPE: tflkit CPU, truth NPU",
    ("tflm__audio_preprocessor_int8.tflite", "ethos-u65"): "0:15 MUL: tflkit CPU, truth NPU (+2)",
    ("tflm__trained_lstm_int8.tflite", "ethos-u65"): "0:0 UNIDIRECTIONAL_SEQUENCE_LSTM: tflkit CPU, truth NPU",
    ("tflm__keyword_scrambled.tflite", "ethos-u65"): "0:0 QUANTIZE: tflkit ethos-u65, truth CPU (+1)",
    ("tflm__keyword_scrambled_8bit.tflite", "ethos-u65"): "0:0 QUANTIZE: tflkit ethos-u65, truth CPU (+1)",
    ("tflm__person_detect_vela.tflite", "ethos-u65"): "0:0 CUSTOM: tflkit CPU, truth NPU",
    ("tflm__micro_speech_lstm.tflite", "ethos-u65"): "0:0 UNIDIRECTIONAL_SEQUENCE_LSTM: tflkit CPU, truth NPU",
    ("litert__rope.tflite", "ethos-u85"): "0:0 RESHAPE: tflkit CPU, truth NPU",
    ("litert__simple_logical_or_op.tflite", "ethos-u85"): "0:0 LOGICAL_OR: tflkit CPU, truth NPU",
    ("litert__dynamic_shapes.tflite", "ethos-u85"): "0:1 CAST: tflkit CPU, truth NPU (+1)",
    ("tflm__audio_preprocessor_float.tflite", "ethos-u85"): "0:6 STRIDED_SLICE: tflkit CPU, truth NPU (+1)",
    ("tflm__audio_preprocessor_int8.tflite", "ethos-u85"): "0:6 STRIDED_SLICE: tflkit CPU, truth NPU (+7)",
    ("tflm__keyword_scrambled.tflite", "ethos-u85"): "0:0 QUANTIZE: tflkit ethos-u85, truth CPU (+1)",
    ("tflm__keyword_scrambled_8bit.tflite", "ethos-u85"): "0:0 QUANTIZE: tflkit ethos-u85, truth CPU (+1)",
    ("tflm__person_detect_vela.tflite", "ethos-u85"): "0:0 CUSTOM: tflkit CPU, truth NPU",
    ("litert__simple_squeeze.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__single_rsqrt_default_a16w8_recipe_quantized.tflite", "tflm"): "0:0 RSQRT: tflkit cannot run, truth runs",
    ("litert__static_w8_a16_quantized_attn_vec_einsum.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__static_w8_a16_quantized_k_einsum.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__static_w8_a16_quantized_q_einsum.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__static_w8_a16_quantized_v_einsum.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__argmax.tflite", "tflm"): "- -: tflkit runs, truth fails at invoke",
    ("litert__broadcast_to.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__svdf_calibrated.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__svdf_quantized.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__transpose.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__unidirectional_sequence_lstm_calibrated.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__unidirectional_sequence_lstm_quantized.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__add_unknown_dimensions.tflite", "tflm"): "- -: tflkit runs, truth crashes",
    ("litert__string.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__string_scalar.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__string_input_model.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__string_input_model_with_signature.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__unidirectional_sequence_lstm.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("litert__while_op_with_forwarding_input.tflite", "tflm"): "- -: tflkit runs, truth fails at allocate",
    ("aeq__bmm.tflite", "tflm-arena"): "arena: tflkit 4,880 B, TFLM 3,904 B, 1.250x (over 5%)",
    ("aeq__bmm_constant_input.tflite", "tflm-arena"): "arena: tflkit 3,856 B, TFLM 2,848 B, 1.354x (over 5%)",
    ("aeq__branching_conv_fc.tflite", "tflm-arena"): "arena: tflkit 2,576 B, TFLM 2,720 B, 0.947x (BELOW)",
    ("aeq__constant_tensor_and_buffer_only_sharing_weight_fcs.tflite", "tflm-arena"): "arena: tflkit 1,536 B, TFLM 1,760 B, 0.873x (BELOW)",
    ("aeq__conv_fc_mnist.tflite", "tflm-arena"): "arena: tflkit 33,136 B, TFLM 33,296 B, 0.995x (BELOW)",
    ("aeq__conv_fc_mnist_srq_a8w8.tflite", "tflm-arena"): "arena: tflkit 10,096 B, TFLM 10,192 B, 0.991x (BELOW)",
    ("aeq__blockwise_i4rangedvalues_fc.tflite", "tflm-arena"): "arena: tflkit 13,136 B, TFLM 13,184 B, 0.996x (BELOW)",
    ("aeq__channel_i4rangedvalues_fc.tflite", "tflm-arena"): "arena: tflkit 13,136 B, TFLM 13,184 B, 0.996x (BELOW)",
    ("aeq__tensor_i4rangedvalues_fc.tflite", "tflm-arena"): "arena: tflkit 13,136 B, TFLM 13,184 B, 0.996x (BELOW)",
    ("aeq__duplicated_tensor_names.tflite", "tflm-arena"): "arena: tflkit 34,480 B, TFLM 50,752 B, 0.679x (BELOW)",
    ("aeq__mnist_quantized.tflite", "tflm-arena"): "arena: tflkit 209,328 B, TFLM 209,408 B, 1.000x (BELOW)",
    ("aeq__reshape_with_empty_shape.tflite", "tflm-arena"): "arena: tflkit 832 B, TFLM 848 B, 0.981x (BELOW)",
    ("aeq__single_add.tflite", "tflm-arena"): "arena: tflkit 13,184 B, TFLM 13,216 B, 0.998x (BELOW)",
    ("aeq__single_add1_constant_input.tflite", "tflm-arena"): "arena: tflkit 9,040 B, TFLM 9,056 B, 0.998x (BELOW)",
    ("aeq__single_broadcast_to.tflite", "tflm-arena"): "arena: tflkit 896 B, TFLM 832 B, 1.077x (over 5%)",
    ("aeq__single_conv2d_transpose_bias.tflite", "tflm-arena"): "arena: tflkit 3,552 B, TFLM 3,600 B, 0.987x (BELOW)",
    ("aeq__single_depthwise_conv2d_bias.tflite", "tflm-arena"): "arena: tflkit 99,184 B, TFLM 99,264 B, 0.999x (BELOW)",
    ("aeq__single_fc.tflite", "tflm-arena"): "arena: tflkit 976 B, TFLM 1,008 B, 0.968x (BELOW)",
    ("aeq__single_fc_bias.tflite", "tflm-arena"): "arena: tflkit 976 B, TFLM 1,008 B, 0.968x (BELOW)",
    ("aeq__single_fc_bias_relu.tflite", "tflm-arena"): "arena: tflkit 976 B, TFLM 1,008 B, 0.968x (BELOW)",
    ("aeq__single_fc_bias_relu6.tflite", "tflm-arena"): "arena: tflkit 976 B, TFLM 1,008 B, 0.968x (BELOW)",
    ("aeq__single_fc_no_bias.tflite", "tflm-arena"): "arena: tflkit 944 B, TFLM 992 B, 0.952x (BELOW)",
    ("aeq__single_gather_nd_with_const_indices.tflite", "tflm-arena"): "arena: tflkit 960 B, TFLM 912 B, 1.053x (over 5%)",
    ("aeq__single_gather_nd_with_const_params.tflite", "tflm-arena"): "arena: tflkit 896 B, TFLM 848 B, 1.057x (over 5%)",
    ("aeq__single_max_pool_2d.tflite", "tflm-arena"): "arena: tflkit 1,040 B, TFLM 1,072 B, 0.970x (BELOW)",
    ("aeq__single_maximum.tflite", "tflm-arena"): "arena: tflkit 992 B, TFLM 944 B, 1.051x (over 5%)",
    ("aeq__single_mean.tflite", "tflm-arena"): "arena: tflkit 5,072 B, TFLM 5,104 B, 0.994x (BELOW)",
    ("aeq__single_reduce_min.tflite", "tflm-arena"): "arena: tflkit 912 B, TFLM 944 B, 0.966x (BELOW)",
    ("aeq__single_resize_bilinear.tflite", "tflm-arena"): "arena: tflkit 944 B, TFLM 880 B, 1.073x (over 5%)",
    ("aeq__single_resize_nearest_neighbor.tflite", "tflm-arena"): "arena: tflkit 944 B, TFLM 880 B, 1.073x (over 5%)",
    ("aeq__single_sqrt.tflite", "tflm-arena"): "arena: tflkit 864 B, TFLM 816 B, 1.059x (over 5%)",
    ("aeq__single_squared_difference.tflite", "tflm-arena"): "arena: tflkit 1,040 B, TFLM 1,104 B, 0.942x (BELOW)",
    ("aeq__single_strided_slice.tflite", "tflm-arena"): "arena: tflkit 5,232 B, TFLM 5,248 B, 0.997x (BELOW)",
    ("aeq__single_sub.tflite", "tflm-arena"): "arena: tflkit 13,184 B, TFLM 13,200 B, 0.999x (BELOW)",
    ("aeq__single_sum.tflite", "tflm-arena"): "arena: tflkit 912 B, TFLM 944 B, 0.966x (BELOW)",
    ("aeq__single_symmetric_pad.tflite", "tflm-arena"): "arena: tflkit 1,328 B, TFLM 1,344 B, 0.988x (BELOW)",
    ("aeq__single_transpose.tflite", "tflm-arena"): "arena: tflkit 1,040 B, TFLM 976 B, 1.066x (over 5%)",
    ("aeq__two_inputs_concatenation.tflite", "tflm-arena"): "arena: tflkit 96,896 B, TFLM 96,944 B, 1.000x (BELOW)",
    ("aeq__weight_sharing_fcs.tflite", "tflm-arena"): "arena: tflkit 4,176 B, TFLM 4,240 B, 0.985x (BELOW)",
    ("litert__add_10x10.tflite", "tflm-arena"): "arena: tflkit 2,096 B, TFLM 2,128 B, 0.985x (BELOW)",
    ("litert__add_1d_2d_3d_4d.tflite", "tflm-arena"): "arena: tflkit 1,712 B, TFLM 1,776 B, 0.964x (BELOW)",
    ("litert__add_c1_c7.tflite", "tflm-arena"): "arena: tflkit 976 B, TFLM 1,008 B, 0.968x (BELOW)",
    ("litert__delegate_compatibility_test.tflite", "tflm-arena"): "arena: tflkit 3,792 B, TFLM 5,104 B, 0.743x (BELOW)",
    ("litert__multi_signature_model.tflite", "tflm-arena"): "arena: tflkit 2,592 B, TFLM 3,760 B, 0.689x (BELOW)",
    ("litert__attn_vec_einsum.tflite", "tflm-arena"): "arena: tflkit 820,208 B, TFLM 820,240 B, 1.000x (BELOW)",
    ("litert__constant_output_tensor.tflite", "tflm-arena"): "arena: tflkit 944 B, TFLM 960 B, 0.983x (BELOW)",
    ("litert__k_einsum.tflite", "tflm-arena"): "arena: tflkit 820,352 B, TFLM 820,400 B, 1.000x (BELOW)",
    ("litert__matmul_quant.tflite", "tflm-arena"): "arena: tflkit 3,933,840 B, TFLM 3,213,056 B, 1.224x (over 5%)",
    ("litert__q_einsum.tflite", "tflm-arena"): "arena: tflkit 820,352 B, TFLM 820,400 B, 1.000x (BELOW)",
    ("litert__reverse_signature_model.tflite", "tflm-arena"): "arena: tflkit 1,232 B, TFLM 1,248 B, 0.987x (BELOW)",
    ("litert__simple_add_dynamic_shape.tflite", "tflm-arena"): "arena: tflkit 7,040 B, TFLM 7,072 B, 0.995x (BELOW)",
    ("litert__simple_elu_op.tflite", "tflm-arena"): "arena: tflkit 23,888,672 B, TFLM 23,888,896 B, 1.000x (BELOW)",
    ("litert__simple_mirror_pad_reflect_op.tflite", "tflm-arena"): "arena: tflkit 1,237,760 B, TFLM 1,237,776 B, 1.000x (BELOW)",
    ("litert__simple_mirror_pad_symmetric_op.tflite", "tflm-arena"): "arena: tflkit 1,237,760 B, TFLM 1,237,776 B, 1.000x (BELOW)",
    ("litert__simple_quantized_ops.tflite", "tflm-arena"): "arena: tflkit 615,536 B, TFLM 615,552 B, 1.000x (BELOW)",
    ("litert__simple_reduceall_op.tflite", "tflm-arena"): "arena: tflkit 265,040 B, TFLM 265,072 B, 1.000x (BELOW)",
    ("litert__simple_reducemin_op.tflite", "tflm-arena"): "arena: tflkit 1,057,616 B, TFLM 1,057,648 B, 1.000x (BELOW)",
    ("litert__single_add_default_a16w8_recipe_quantized.tflite", "tflm-arena"): "arena: tflkit 7,136 B, TFLM 7,168 B, 0.996x (BELOW)",
    ("litert__single_add_default_a8w8_recipe_quantized.tflite", "tflm-arena"): "arena: tflkit 4,064 B, TFLM 4,096 B, 0.992x (BELOW)",
    ("litert__sqrt_mean_mul_multiple.tflite", "tflm-arena"): "arena: tflkit 1,808 B, TFLM 1,712 B, 1.056x (over 5%)",
    ("litert__topo_sort_fork.tflite", "tflm-arena"): "arena: tflkit 1,520 B, TFLM 1,552 B, 0.979x (BELOW)",
    ("litert__topo_sort_fork_violation.tflite", "tflm-arena"): "arena: tflkit 1,520 B, TFLM 1,552 B, 0.979x (BELOW)",
    ("litert__topo_sort_interleaved.tflite", "tflm-arena"): "arena: tflkit 1,760 B, TFLM 1,808 B, 0.973x (BELOW)",
    ("litert__v_einsum.tflite", "tflm-arena"): "arena: tflkit 820,352 B, TFLM 820,400 B, 1.000x (BELOW)",
    ("litert__add_with_const_input.tflite", "tflm-arena"): "arena: tflkit 1,008 B, TFLM 1,024 B, 0.984x (BELOW)",
    ("litert__concat.tflite", "tflm-arena"): "arena: tflkit 944 B, TFLM 992 B, 0.952x (BELOW)",
    ("litert__fc.tflite", "tflm-arena"): "arena: tflkit 1,104 B, TFLM 1,136 B, 0.972x (BELOW)",
    ("litert__gather_nd.tflite", "tflm-arena"): "arena: tflkit 896 B, TFLM 848 B, 1.057x (over 5%)",
    ("litert__maximum.tflite", "tflm-arena"): "arena: tflkit 880 B, TFLM 816 B, 1.078x (over 5%)",
    ("litert__minimum.tflite", "tflm-arena"): "arena: tflkit 880 B, TFLM 816 B, 1.078x (over 5%)",
    ("litert__multi_input_add_reshape.tflite", "tflm-arena"): "arena: tflkit 1,776 B, TFLM 1,792 B, 0.991x (BELOW)",
    ("litert__resource_vars_calibrated.tflite", "tflm-arena"): "arena: tflkit 2,752 B, TFLM 2,768 B, 0.994x (BELOW)",
    ("litert__single_avg_pool_min_minus_5_max_plus_5.tflite", "tflm-arena"): "arena: tflkit 1,296 B, TFLM 1,328 B, 0.976x (BELOW)",
    ("litert__single_conv_no_bias.tflite", "tflm-arena"): "arena: tflkit 1,472 B, TFLM 1,584 B, 0.929x (BELOW)",
    ("litert__single_conv_weights_min_0_max_plus_10.tflite", "tflm-arena"): "arena: tflkit 1,504 B, TFLM 1,616 B, 0.931x (BELOW)",
    ("litert__single_conv_weights_min_minus_127_max_plus_127.tflite", "tflm-arena"): "arena: tflkit 1,504 B, TFLM 1,616 B, 0.931x (BELOW)",
    ("litert__single_softmax_min_minus_5_max_plus_5.tflite", "tflm-arena"): "arena: tflkit 1,408 B, TFLM 1,456 B, 0.967x (BELOW)",
    ("litert__weight_shared_between_convs.tflite", "tflm-arena"): "arena: tflkit 1,280 B, TFLM 1,408 B, 0.909x (BELOW)",
    ("litert__testdata__add.tflite", "tflm-arena"): "arena: tflkit 3,264 B, TFLM 3,296 B, 0.990x (BELOW)",
    ("litert__add.tflite", "tflm-arena"): "arena: tflkit 3,264 B, TFLM 3,296 B, 0.990x (BELOW)",
    ("litert__multi_signature_def.tflite", "tflm-arena"): "arena: tflkit 1,184 B, TFLM 1,200 B, 0.987x (BELOW)",
    ("litert__mobilenet_like_model.tflite", "tflm-arena"): "arena: tflkit 2,416 B, TFLM 2,608 B, 0.926x (BELOW)",
    ("litert__2_subgraphs.tflite", "tflm-arena"): "arena: tflkit 544 B, TFLM 512 B, 1.062x (over 5%)",
    ("litert__2_subgraphs_dont_delegate_name.tflite", "tflm-arena"): "arena: tflkit 544 B, TFLM 512 B, 1.062x (over 5%)",
    ("litert__add_quantized_int8.tflite", "tflm-arena"): "arena: tflkit 2,176 B, TFLM 2,208 B, 0.986x (BELOW)",
    ("litert__add_shared_tensors.tflite", "tflm-arena"): "arena: tflkit 3,264 B, TFLM 3,296 B, 0.990x (BELOW)",
    ("litert__call_once_mul.tflite", "tflm-arena"): "arena: tflkit 1,536 B, TFLM 1,568 B, 0.980x (BELOW)",
    ("litert__multi_add.tflite", "tflm-arena"): "arena: tflkit 5,280 B, TFLM 5,344 B, 0.988x (BELOW)",
    ("litert__multi_subgraphs_while.tflite", "tflm-arena"): "arena: tflkit 1,984 B, TFLM 1,888 B, 1.051x (over 5%)",
    ("litert__no_signatures.tflite", "tflm-arena"): "arena: tflkit 944 B, TFLM 976 B, 0.967x (BELOW)",
    ("litert__no_signatures_no_tensor_names.tflite", "tflm-arena"): "arena: tflkit 944 B, TFLM 976 B, 0.967x (BELOW)",
    ("litert__sub.tflite", "tflm-arena"): "arena: tflkit 1,024 B, TFLM 1,056 B, 0.970x (BELOW)",
    ("litert__test_min_runtime.tflite", "tflm-arena"): "arena: tflkit 912 B, TFLM 944 B, 0.966x (BELOW)",
    ("litert__zero_size_constant.tflite", "tflm-arena"): "arena: tflkit 832 B, TFLM 848 B, 0.981x (BELOW)",
    ("mediapipe__hand_recrop.tflite", "tflm-arena"): "arena: tflkit 1,586,608 B, TFLM 1,592,848 B, 0.996x (BELOW)",
    ("microww__alexa.tflite", "tflm-arena"): "arena: tflkit 17,040 B, TFLM 20,432 B, 0.834x (BELOW)",
    ("microww__hey_jarvis.tflite", "tflm-arena"): "arena: tflkit 16,592 B, TFLM 19,808 B, 0.838x (BELOW)",
    ("microww__hey_mycroft.tflite", "tflm-arena"): "arena: tflkit 17,728 B, TFLM 21,728 B, 0.816x (BELOW)",
    ("microww__okay_nabu.tflite", "tflm-arena"): "arena: tflkit 21,968 B, TFLM 25,904 B, 0.848x (BELOW)",
    ("tflm__sine_float.tflite", "tflm-arena"): "arena: tflkit 1,472 B, TFLM 1,536 B, 0.958x (BELOW)",
    ("tflm__hello_world_int8.tflite", "tflm-arena"): "arena: tflkit 1,728 B, TFLM 1,504 B, 1.149x (over 5%)",
    ("tflm__simple_add_model.tflite", "tflm-arena"): "arena: tflkit 50,144 B, TFLM 50,176 B, 0.999x (BELOW)",
    ("tflm__audio_preprocessor_float.tflite", "tflm-arena"): "arena: tflkit 5,760 B, TFLM 9,408 B, 0.612x (BELOW)",
    ("tflm__audio_preprocessor_int8.tflite", "tflm-arena"): "arena: tflkit 6,832 B, TFLM 10,224 B, 0.668x (BELOW)",
    ("tflm__micro_speech_quantized.tflite", "tflm-arena"): "arena: tflkit 7,552 B, TFLM 7,584 B, 0.996x (BELOW)",
    ("tflm__trained_lstm.tflite", "tflm-arena"): "arena: tflkit 7,248 B, TFLM 8,272 B, 0.876x (BELOW)",
    ("tflm__trained_lstm_int8.tflite", "tflm-arena"): "arena: tflkit 3,504 B, TFLM 4,208 B, 0.833x (BELOW)",
    ("tflm__add0.tflite", "tflm-arena"): "arena: tflkit 2,912 B, TFLM 2,944 B, 0.989x (BELOW)",
    ("tflm__add1.tflite", "tflm-arena"): "arena: tflkit 14,816 B, TFLM 14,848 B, 0.998x (BELOW)",
    ("tflm__add10.tflite", "tflm-arena"): "arena: tflkit 32,480 B, TFLM 32,512 B, 0.999x (BELOW)",
    ("tflm__add11.tflite", "tflm-arena"): "arena: tflkit 16,352 B, TFLM 16,384 B, 0.998x (BELOW)",
    ("tflm__add12.tflite", "tflm-arena"): "arena: tflkit 16,352 B, TFLM 16,384 B, 0.998x (BELOW)",
    ("tflm__add13.tflite", "tflm-arena"): "arena: tflkit 32,096 B, TFLM 32,128 B, 0.999x (BELOW)",
    ("tflm__add14.tflite", "tflm-arena"): "arena: tflkit 16,352 B, TFLM 16,384 B, 0.998x (BELOW)",
    ("tflm__add15.tflite", "tflm-arena"): "arena: tflkit 16,352 B, TFLM 16,384 B, 0.998x (BELOW)",
    ("tflm__add16.tflite", "tflm-arena"): "arena: tflkit 4,832 B, TFLM 4,864 B, 0.993x (BELOW)",
    ("tflm__add2.tflite", "tflm-arena"): "arena: tflkit 4,832 B, TFLM 4,864 B, 0.993x (BELOW)",
    ("tflm__add3.tflite", "tflm-arena"): "arena: tflkit 4,832 B, TFLM 4,864 B, 0.993x (BELOW)",
    ("tflm__add4.tflite", "tflm-arena"): "arena: tflkit 13,664 B, TFLM 13,696 B, 0.998x (BELOW)",
    ("tflm__add5.tflite", "tflm-arena"): "arena: tflkit 4,832 B, TFLM 4,864 B, 0.993x (BELOW)",
    ("tflm__add6.tflite", "tflm-arena"): "arena: tflkit 4,832 B, TFLM 4,864 B, 0.993x (BELOW)",
    ("tflm__add7.tflite", "tflm-arena"): "arena: tflkit 25,184 B, TFLM 25,216 B, 0.999x (BELOW)",
    ("tflm__add8.tflite", "tflm-arena"): "arena: tflkit 8,672 B, TFLM 8,704 B, 0.996x (BELOW)",
    ("tflm__add9.tflite", "tflm-arena"): "arena: tflkit 8,672 B, TFLM 8,704 B, 0.996x (BELOW)",
    ("tflm__conv0.tflite", "tflm-arena"): "arena: tflkit 11,440 B, TFLM 11,488 B, 0.996x (BELOW)",
    ("tflm__conv1.tflite", "tflm-arena"): "arena: tflkit 16,496 B, TFLM 16,544 B, 0.997x (BELOW)",
    ("tflm__conv10.tflite", "tflm-arena"): "arena: tflkit 6,704 B, TFLM 6,752 B, 0.993x (BELOW)",
    ("tflm__conv11.tflite", "tflm-arena"): "arena: tflkit 4,208 B, TFLM 4,256 B, 0.989x (BELOW)",
    ("tflm__conv12.tflite", "tflm-arena"): "arena: tflkit 3,440 B, TFLM 3,488 B, 0.986x (BELOW)",
    ("tflm__conv13.tflite", "tflm-arena"): "arena: tflkit 7,344 B, TFLM 7,392 B, 0.994x (BELOW)",
    ("tflm__conv14.tflite", "tflm-arena"): "arena: tflkit 6,704 B, TFLM 6,752 B, 0.993x (BELOW)",
    ("tflm__conv15.tflite", "tflm-arena"): "arena: tflkit 3,120 B, TFLM 3,168 B, 0.985x (BELOW)",
    ("tflm__conv16.tflite", "tflm-arena"): "arena: tflkit 11,824 B, TFLM 11,872 B, 0.996x (BELOW)",
    ("tflm__conv17.tflite", "tflm-arena"): "arena: tflkit 16,688 B, TFLM 16,736 B, 0.997x (BELOW)",
    ("tflm__conv18.tflite", "tflm-arena"): "arena: tflkit 4,912 B, TFLM 4,960 B, 0.990x (BELOW)",
    ("tflm__conv19.tflite", "tflm-arena"): "arena: tflkit 16,496 B, TFLM 16,544 B, 0.997x (BELOW)",
    ("tflm__conv2.tflite", "tflm-arena"): "arena: tflkit 16,560 B, TFLM 16,608 B, 0.997x (BELOW)",
    ("tflm__conv20.tflite", "tflm-arena"): "arena: tflkit 8,688 B, TFLM 8,736 B, 0.995x (BELOW)",
    ("tflm__conv21.tflite", "tflm-arena"): "arena: tflkit 23,504 B, TFLM 23,552 B, 0.998x (BELOW)",
    ("tflm__conv3.tflite", "tflm-arena"): "arena: tflkit 16,688 B, TFLM 16,736 B, 0.997x (BELOW)",
    ("tflm__conv4.tflite", "tflm-arena"): "arena: tflkit 14,256 B, TFLM 14,304 B, 0.997x (BELOW)",
    ("tflm__conv5.tflite", "tflm-arena"): "arena: tflkit 11,824 B, TFLM 11,872 B, 0.996x (BELOW)",
    ("tflm__conv6.tflite", "tflm-arena"): "arena: tflkit 10,544 B, TFLM 10,592 B, 0.995x (BELOW)",
    ("tflm__conv7.tflite", "tflm-arena"): "arena: tflkit 6,704 B, TFLM 6,752 B, 0.993x (BELOW)",
    ("tflm__conv8.tflite", "tflm-arena"): "arena: tflkit 6,960 B, TFLM 7,008 B, 0.993x (BELOW)",
    ("tflm__conv9.tflite", "tflm-arena"): "arena: tflkit 7,344 B, TFLM 7,392 B, 0.994x (BELOW)",
    ("tflm__strided_slice0.tflite", "tflm-arena"): "arena: tflkit 10,288 B, TFLM 10,304 B, 0.998x (BELOW)",
    ("tflm__strided_slice1.tflite", "tflm-arena"): "arena: tflkit 16,544 B, TFLM 16,560 B, 0.999x (BELOW)",
    ("tflm__strided_slice10.tflite", "tflm-arena"): "arena: tflkit 8,672 B, TFLM 8,688 B, 0.998x (BELOW)",
    ("tflm__strided_slice11.tflite", "tflm-arena"): "arena: tflkit 5,472 B, TFLM 5,488 B, 0.997x (BELOW)",
    ("tflm__strided_slice12.tflite", "tflm-arena"): "arena: tflkit 3,232 B, TFLM 3,248 B, 0.995x (BELOW)",
    ("tflm__strided_slice13.tflite", "tflm-arena"): "arena: tflkit 8,672 B, TFLM 8,688 B, 0.998x (BELOW)",
    ("tflm__strided_slice14.tflite", "tflm-arena"): "arena: tflkit 7,136 B, TFLM 7,152 B, 0.998x (BELOW)",
    ("tflm__strided_slice15.tflite", "tflm-arena"): "arena: tflkit 3,808 B, TFLM 3,824 B, 0.996x (BELOW)",
    ("tflm__strided_slice16.tflite", "tflm-arena"): "arena: tflkit 8,672 B, TFLM 8,688 B, 0.998x (BELOW)",
    ("tflm__strided_slice17.tflite", "tflm-arena"): "arena: tflkit 8,032 B, TFLM 8,048 B, 0.998x (BELOW)",
    ("tflm__strided_slice18.tflite", "tflm-arena"): "arena: tflkit 6,624 B, TFLM 6,640 B, 0.998x (BELOW)",
    ("tflm__strided_slice19.tflite", "tflm-arena"): "arena: tflkit 3,680 B, TFLM 3,696 B, 0.996x (BELOW)",
    ("tflm__strided_slice2.tflite", "tflm-arena"): "arena: tflkit 16,544 B, TFLM 16,560 B, 0.999x (BELOW)",
    ("tflm__strided_slice20.tflite", "tflm-arena"): "arena: tflkit 8,032 B, TFLM 8,048 B, 0.998x (BELOW)",
    ("tflm__strided_slice21.tflite", "tflm-arena"): "arena: tflkit 14,432 B, TFLM 14,448 B, 0.999x (BELOW)",
    ("tflm__strided_slice22.tflite", "tflm-arena"): "arena: tflkit 11,744 B, TFLM 11,760 B, 0.999x (BELOW)",
    ("tflm__strided_slice23.tflite", "tflm-arena"): "arena: tflkit 6,240 B, TFLM 6,256 B, 0.997x (BELOW)",
    ("tflm__strided_slice24.tflite", "tflm-arena"): "arena: tflkit 14,432 B, TFLM 14,448 B, 0.999x (BELOW)",
    ("tflm__strided_slice25.tflite", "tflm-arena"): "arena: tflkit 16,736 B, TFLM 16,752 B, 0.999x (BELOW)",
    ("tflm__strided_slice26.tflite", "tflm-arena"): "arena: tflkit 16,736 B, TFLM 16,752 B, 0.999x (BELOW)",
    ("tflm__strided_slice27.tflite", "tflm-arena"): "arena: tflkit 11,360 B, TFLM 11,376 B, 0.999x (BELOW)",
    ("tflm__strided_slice28.tflite", "tflm-arena"): "arena: tflkit 16,736 B, TFLM 16,752 B, 0.999x (BELOW)",
    ("tflm__strided_slice29.tflite", "tflm-arena"): "arena: tflkit 16,544 B, TFLM 16,560 B, 0.999x (BELOW)",
    ("tflm__strided_slice3.tflite", "tflm-arena"): "arena: tflkit 16,736 B, TFLM 16,752 B, 0.999x (BELOW)",
    ("tflm__strided_slice30.tflite", "tflm-arena"): "arena: tflkit 16,544 B, TFLM 16,560 B, 0.999x (BELOW)",
    ("tflm__strided_slice31.tflite", "tflm-arena"): "arena: tflkit 11,296 B, TFLM 11,312 B, 0.999x (BELOW)",
    ("tflm__strided_slice32.tflite", "tflm-arena"): "arena: tflkit 16,544 B, TFLM 16,560 B, 0.999x (BELOW)",
    ("tflm__strided_slice33.tflite", "tflm-arena"): "arena: tflkit 38,176 B, TFLM 38,192 B, 1.000x (BELOW)",
    ("tflm__strided_slice4.tflite", "tflm-arena"): "arena: tflkit 16,736 B, TFLM 16,752 B, 0.999x (BELOW)",
    ("tflm__strided_slice5.tflite", "tflm-arena"): "arena: tflkit 14,432 B, TFLM 14,448 B, 0.999x (BELOW)",
    ("tflm__strided_slice6.tflite", "tflm-arena"): "arena: tflkit 14,432 B, TFLM 14,448 B, 0.999x (BELOW)",
    ("tflm__strided_slice7.tflite", "tflm-arena"): "arena: tflkit 8,032 B, TFLM 8,048 B, 0.998x (BELOW)",
    ("tflm__strided_slice8.tflite", "tflm-arena"): "arena: tflkit 8,032 B, TFLM 8,048 B, 0.998x (BELOW)",
    ("tflm__strided_slice9.tflite", "tflm-arena"): "arena: tflkit 8,672 B, TFLM 8,688 B, 0.998x (BELOW)",
    ("tflm__sub0.tflite", "tflm-arena"): "arena: tflkit 7,264 B, TFLM 7,280 B, 0.998x (BELOW)",
    ("tflm__sub1.tflite", "tflm-arena"): "arena: tflkit 6,688 B, TFLM 6,704 B, 0.998x (BELOW)",
    ("tflm__sub2.tflite", "tflm-arena"): "arena: tflkit 11,808 B, TFLM 11,824 B, 0.999x (BELOW)",
    ("tflm__sub3.tflite", "tflm-arena"): "arena: tflkit 11,520 B, TFLM 11,536 B, 0.999x (BELOW)",
    ("tflm__sub4.tflite", "tflm-arena"): "arena: tflkit 11,376 B, TFLM 11,392 B, 0.999x (BELOW)",
    ("tflm__transpose_conv0.tflite", "tflm-arena"): "arena: tflkit 6,304 B, TFLM 25,296 B, 0.249x (BELOW)",
    ("tflm__transpose_conv1.tflite", "tflm-arena"): "arena: tflkit 6,560 B, TFLM 23,760 B, 0.276x (BELOW)",
    ("tflm__transpose_conv2.tflite", "tflm-arena"): "arena: tflkit 10,400 B, TFLM 42,960 B, 0.242x (BELOW)",
    ("tflm__transpose_conv3.tflite", "tflm-arena"): "arena: tflkit 14,112 B, TFLM 56,272 B, 0.251x (BELOW)",
    ("tflm__transpose_conv4.tflite", "tflm-arena"): "arena: tflkit 16,544 B, TFLM 58,128 B, 0.285x (BELOW)",
    ("tflm__keyword_scrambled.tflite", "tflm-arena"): "arena: tflkit 5,232 B, TFLM 15,152 B, 0.345x (BELOW)",
    ("tflm__keyword_scrambled_8bit.tflite", "tflm-arena"): "arena: tflkit 5,232 B, TFLM 10,032 B, 0.522x (BELOW)",
    ("tflm__micro_speech_lstm.tflite", "tflm-arena"): "arena: tflkit 18,624 B, TFLM 20,000 B, 0.931x (BELOW)",
}
# fmt: on


def _where(text: str) -> set[tuple[int, int]]:
    """(subgraph, operator) of Vela's CPU operators, from "0:3-5,9 1:0"."""
    return {
        (int(sg), i)
        for part in text.split()
        for sg in [part.split(":")[0]]
        for i in _delegated(part.split(":")[1])
    }


def _delegated(text: str) -> set[int]:
    """The operators inside XNNPACK's partitions, from their ranges ("0-2,5")."""
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


@functools.cache
def _load(name: str) -> tflkit.Model | str:
    """The model, or why tflkit refuses the file (a model without subgraphs)."""
    try:
        return tflkit.load(CORPUS / "models" / name)
    except tflkit.TflkitError as exc:
        return str(exc)


def _cases() -> list[Any]:
    cases = []
    for name in sorted(COMMITTED):
        for target in TARGETS:
            marks = []
            if (name, target) in KNOWN:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[(name, target)]))
            cases.append(pytest.param(name, target, marks=marks, id=f"{name}-{target}"))
    return cases


@pytest.mark.parametrize(("name", "target"), _cases())
def test_tflkit_agrees_with_the_tool(name: str, target: str) -> None:
    truth = TRUTHS[COMMITTED[name]["sha256"]]["tflm" if target.startswith("tflm") else target]
    if "error" in truth:
        pytest.skip(f"the tool gave no answer: {truth['error'][:100]}")
    model = _load(name)
    if isinstance(model, str):
        pytest.skip(f"tflkit refuses the file: {model}")
    result = place(model, "tflm" if target.startswith("tflm") else target)
    if target == "xnnpack":
        sg0 = [p for p in result.placement if p.subgraph == 0]  # the interpreter shows only it
        assert len(sg0) == truth["ops"]
        ours = {p.operator for p in sg0 if p.on == "target"}
        assert ours == _delegated(truth["delegated"]), [
            (p.operator, p.op, p.on, p.rule) for p in sg0
        ]
    elif target.startswith("ethos-u"):
        ours_cpu = {(p.subgraph, p.operator) for p in result.placement if p.on == "cpu"}
        vela_cpu = _where(truth["cpu"])
        assert not truth.get("unmatched"), "Vela left CPU operators the model does not have"
        assert ours_cpu == vela_cpu, (
            f"tflkit only {ours_cpu - vela_cpu}, Vela only {vela_cpu - ours_cpu}"
        )
    elif target == "tflm":
        assert result.passed == (truth["stage"] == "ok"), truth.get("message", "")
    else:
        if truth["stage"] != "ok":
            pytest.skip("TFLM does not run it: no arena to compare")
        assert result.memory is not None
        estimate, total = result.memory.arena_bytes, truth["arena_total"]
        assert total <= estimate <= total * 1.05, f"tflkit {estimate}, TFLM {total}"


def test_committed_models_are_the_manifest_ones() -> None:
    on_disk = {p.name for p in (CORPUS / "models").glob("*")}
    assert on_disk == set(COMMITTED)
    for name, entry in COMMITTED.items():
        data = (CORPUS / "models" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert len(data) == entry["size"] < 300_000, name
        assert entry["licence"] == "Apache-2.0", name
    assert sum(e["size"] for e in COMMITTED.values()) <= 6_000_000


def test_truths_cover_the_manifest() -> None:
    assert {m["sha256"] for m in MANIFEST} == set(TRUTHS)
    assert len(MANIFEST) >= 150
    assert len({m["sha256"] for m in MANIFEST}) == len(MANIFEST)  # deduplicated
    for m in MANIFEST:
        assert TRUTHS[m["sha256"]]["id"] == m["id"]
        assert set(TRUTHS[m["sha256"]]) == {"id", "tflm", "xnnpack", *TARGETS[1:4]}


def test_known_disagreements_name_committed_models() -> None:
    assert all(name in COMMITTED and target in TARGETS for name, target in KNOWN)
