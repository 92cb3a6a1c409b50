# node-gyp build of vlab_native.node (the optional native kernels of @vlab/backend).
# Built by ../scripts/build-native.js from the package's `build` script; never from an install script.
# -ffp-contract=off: every product is rounded before it is added, as in JavaScript and tfjs's cpu
# backend (the GEMM micro-kernels use FMA explicitly, through intrinsics).
{
  "targets": [
    {
      "target_name": "vlab_native",
      "sources": [
        "src/addon.cc",
        "src/gemm.cc",
        "src/thread_pool.cc",
        "src/microkernel_portable.cc",
        "src/microkernel_avx2.cc",
        "src/microkernel_avx512.cc",
        "src/gelu.cc",
        "src/layer_norm.cc",
        "src/softmax_xent.cc",
        "src/column_sum.cc",
        "src/adamw.cc",
        "src/masked_softmax.cc",
        "src/transpose.cc",
        "src/decode.cc",
        "src/decode_attention.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions", "-ffp-contract=off"],
      "cflags": ["-O3", "-ffp-contract=off"],
      "defines": ["NAPI_VERSION=8"],
      "xcode_settings": {
        "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-ffp-contract=off"]
      }
    }
  ]
}
