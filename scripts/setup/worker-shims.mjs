// meson subproject shims for the mediasoup 3.27 worker: each directory is named as its wrap's
// `directory =`, so meson finds it and never downloads, and exposes a Debian 12 library under the
// names mediasoup's meson.build reads. libsrtp, flatbuffers and unordered_dense are not shims: they
// are built (or included) from real sources (worker-build.mjs, worker-sources.mjs).
export const SHIMS = {
  // bookworm libssl-dev 3.0.x
  'openssl-3.0.8': {
    'meson.build': "project('openssl', 'c')\nopenssl_dep = dependency('openssl')\nlibcrypto_lib = []\nlibssl_lib = []\n",
  },
  // bookworm libuv1-dev 1.44.2: every uv_* the worker calls exists in its uv.h
  'libuv-v1.51.0': {
    'meson.build': "project('libuv', 'c')\nlibuv_dep = dependency('libuv')\nlibuv = []\n",
    'meson_options.txt': "option('build_tests', type: 'boolean', value: false)\noption('build_benchmarks', type: 'boolean', value: false)\n",
  },
  // bookworm libabsl-dev 20220623: only deps/libwebrtc uses abseil (optional, string_view, strings)
  'abseil-cpp-20240722.0': {
    'meson.build': [
      "project('abseil-cpp', 'cpp')",
      'absl_container_dep = declare_dependency(dependencies: [',
      "  dependency('absl_flat_hash_map'), dependency('absl_flat_hash_set'),",
      "  dependency('absl_inlined_vector'), dependency('absl_btree'),",
      '])',
      "absl_strings_dep = dependency('absl_strings')",
      "absl_types_dep = declare_dependency(dependencies: [dependency('absl_optional'), dependency('absl_variant')])",
      'absl_container_lib = []',
      '',
    ].join('\n'),
  },
};
