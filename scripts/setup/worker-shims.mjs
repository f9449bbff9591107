// meson subproject shims: each exposes a Debian library under the names mediasoup's meson.build
// reads, so meson never downloads. libsrtp is absent on purpose: it is built from its real source.
export const SHIMS = {
  'openssl-3.0.8': {
    'meson.build': "project('openssl', 'c')\nopenssl_dep = dependency('openssl')\nlibcrypto_lib = []\nlibssl_lib = []\n",
  },
  'nlohmann_json-3.10.5': {
    'meson.build': "project('nlohmann_json', 'cpp')\nnlohmann_json_dep = dependency('nlohmann_json')\n",
  },
  'libuv-v1.44.2': {
    'meson.build': "project('libuv', 'c')\nlibuv_dep = dependency('libuv')\nlibuv = []\n",
    'meson_options.txt': "option('build_tests', type: 'boolean', value: false)\noption('build_benchmarks', type: 'boolean', value: false)\n",
  },
  'usrsctp-4e06feb01cadcd127d119486b98a4bd3d64aa1e7': {
    'meson.build': "project('usrsctp', 'c')\nusrsctp_dep = dependency('usrsctp')\nusrsctp = []\n",
    'meson_options.txt': "option('sctp_build_programs', type: 'boolean', value: false)\n",
  },
  'abseil-cpp-20220623.0': {
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
  'Catch2-2.13.7': {
    'meson.build': "project('catch2', 'cpp')\ncatch2_dep = dependency('', required: false)\n",
  },
};
