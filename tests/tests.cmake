# One line per test executable: cascade_test(<file under tests/ without .cc> <libs>)
# Labels (see cascade_test in CMakeLists.txt): quick unless set here.
set(CASCADE_TEST_LABELS_net_test net slow)
set(CASCADE_TEST_LABELS_limits_test net)  # loopback gRPC; one case starts node processes
# Net.* shares one 72-process cluster across its cases: one process for all.
set(CASCADE_ONE_PROCESS_TESTS net_test)

# Shared by the tests that hold a Cascade backend to the plaintext engine.
add_library(cascade_test_support STATIC ${CMAKE_SOURCE_DIR}/tests/backend_compare.cc)
target_link_libraries(cascade_test_support PUBLIC cascade_nodes GTest::gtest)
cascade_test(kernels_test cascade_kernels)
cascade_test(engine_golden_test cascade_engine)
cascade_test(kernels_isa_test cascade_kernels)
cascade_test(engine_batch_test cascade_engine)
# The golden suite once more with the AVX2 kernels forced through the
# environment, as on an AVX2-only CPU, where this CPU has AVX2 + FMA.
if(EXISTS /proc/cpuinfo AND TARGET engine_golden_test)
  file(STRINGS /proc/cpuinfo CASCADE_CPU_FLAGS REGEX "^flags" LIMIT_COUNT 1)
  if(CASCADE_CPU_FLAGS MATCHES " avx2( |$)" AND CASCADE_CPU_FLAGS MATCHES " fma( |$)")
    add_test(NAME engine_golden_test.CASCADE_ISA_avx2 COMMAND engine_golden_test)
    set_tests_properties(engine_golden_test.CASCADE_ISA_avx2 PROPERTIES ENVIRONMENT "CASCADE_ISA=avx2" TIMEOUT 600
                         LABELS quick)
  endif()
endif()
cascade_test(tokenizer_test cascade_tokenizer cascade_util)
cascade_test(attacks_test cascade_attacks cascade_plan)
cascade_test(gguf_test cascade_model cascade_util)
cascade_test(quant_test cascade_engine cascade_model cascade_util)
# The protocol tests build without gRPC.
cascade_test(cascade_test cascade_nodes cascade_test_support)
cascade_test(cli_test cascade_util)
target_compile_definitions(cli_test PRIVATE CASCADE_BIN="$<TARGET_FILE:cascade>")
add_dependencies(cli_test cascade)
# Transport: real node processes over gRPC + mutual TLS on loopback.
add_executable(cascade_node_test_bin ${CMAKE_SOURCE_DIR}/tests/net_node_main.cc)
target_link_libraries(cascade_node_test_bin PRIVATE cascade_rpc)
cascade_test(net_test cascade_rpc cascade_test_support)
if(TARGET net_test)
  add_dependencies(net_test cascade_node_test_bin)
  target_compile_definitions(net_test PRIVATE CASCADE_NODE_BIN="$<TARGET_FILE:cascade_node_test_bin>")
endif()
# Bounded nodes: session, state, row and position limits; client-only, expired and revoked certificates.
cascade_test(limits_test cascade_rpc cascade_test_support)
if(TARGET limits_test)
  add_dependencies(limits_test cascade_node_test_bin)
  target_compile_definitions(limits_test PRIVATE CASCADE_NODE_BIN="$<TARGET_FILE:cascade_node_test_bin>")
endif()
cascade_test(plan_test cascade_plan)
cascade_test(llama2c_test cascade_model)
# Model config fields against CASCADE_MODEL_FIELDS: proto, wire, synth + GGUF, llama2.c.
cascade_test(model_fields_test cascade_rpc)
# Several hosts made of network namespaces, a delay proxy on every link: output equals the
# plaintext model's, decode ms/token vs (L-F+1)·RTT. Needs root and `ip netns`; skips (77) otherwise.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/netns/run_netns_test.sh AND EXISTS ${CMAKE_SOURCE_DIR}/tools/tools.cmake)
  include(${CMAKE_SOURCE_DIR}/tools/tools.cmake)  # the delay_proxy target (include-guarded)
  add_test(NAME netns_multi_host
           COMMAND ${CMAKE_SOURCE_DIR}/tests/netns/run_netns_test.sh $<TARGET_FILE:cascade> $<TARGET_FILE:delay_proxy>
                   ${CMAKE_SOURCE_DIR}/../shared/models/stories260K/stories260K.bin ${CMAKE_BINARY_DIR}/netns_latency.json)
  # Not RUN_SERIAL: the test only asserts a lower bound on latency (the
  # delays are really there), which a busy machine cannot break.
  set_tests_properties(netns_multi_host PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 180 LABELS "net;slow")
endif()
cascade_test(serve_test cascade_serve)
cascade_test(audit_recorded_test cascade_attacks)
# The official openai npm client against `cascade serve`: plaintext, --cascade and --cluster.
# Skips (77) without node or tests/openai/node_modules (scripts/setup installs them).
add_test(NAME openai_client COMMAND ${CMAKE_SOURCE_DIR}/scripts/openai_test.sh $<TARGET_FILE:cascade>
                                    ${CMAKE_SOURCE_DIR}/../shared/models/stories260K/stories260K.bin)
set_tests_properties(openai_client PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "net;slow")
cascade_test(privacy_test cascade_attacks)
# The module layering of docs/ARCHITECTURE.md: no upward include edge.
add_test(NAME include_graph COMMAND ${CMAKE_SOURCE_DIR}/scripts/include_graph)
set_tests_properties(include_graph PROPERTIES LABELS quick)
# Failover onto spare nodes: killed and frozen nodes mid-generation, output exact.
set(CASCADE_TEST_LABELS_failover_test net)
cascade_test(failover_test cascade_rpc cascade_test_support)
if(TARGET failover_test)
  add_dependencies(failover_test cascade_node_test_bin)
  target_compile_definitions(failover_test PRIVATE CASCADE_NODE_BIN="$<TARGET_FILE:cascade_node_test_bin>")
endif()
# The soak test, short: 4 sessions for 20 s with a node killed or frozen every 4-7 s, every generation
# exact and none hung (too short to judge RSS/fd flatness; scripts/soak runs it long and does).
include(${CMAKE_SOURCE_DIR}/tools/tools.cmake)
if(TARGET cascade_soak)
  add_test(NAME soak_short COMMAND cascade_soak --node-bin $<TARGET_FILE:cascade_node_test_bin>
                                   --model ${CMAKE_SOURCE_DIR}/../shared/models/stories260K/stories260K.bin
                                   --seconds 20 --sessions 4 --spares 1 --kill-min 4 --kill-max 7 --tokens 16
                                   --warmup 8 --gen-deadline 60 --flat-check 0)
  set_tests_properties(soak_short PROPERTIES TIMEOUT 180 LABELS "net;slow")
  add_dependencies(cascade_soak cascade_node_test_bin)
endif()
# The fuzz targets' corpora (tests/fuzz/corpus/TARGET, crashes found included)
# replayed through the same LLVMFuzzerTestOneInput functions, without
# libFuzzer: one binary, each target's file compiled with its entry renamed.
set(CASCADE_FUZZ_NAMES gguf llama2c tokenizer wire manifest api_request plan)
set(CASCADE_FUZZ_REPLAY_SRCS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_replay.cc)
foreach(name ${CASCADE_FUZZ_NAMES})
  set(wrapper ${CMAKE_BINARY_DIR}/fuzz_replay_src/fuzz_${name}.cc)
  file(CONFIGURE OUTPUT ${wrapper} CONTENT
       "#define LLVMFuzzerTestOneInput cascade_fuzz_${name}\n#include \"tests/fuzz/fuzz_${name}.cc\"\n")
  list(APPEND CASCADE_FUZZ_REPLAY_SRCS ${wrapper})
endforeach()
add_executable(fuzz_replay ${CASCADE_FUZZ_REPLAY_SRCS})
target_link_libraries(fuzz_replay PRIVATE cascade_serve cascade_rpc nlohmann_json::nlohmann_json)
foreach(name ${CASCADE_FUZZ_NAMES})
  add_test(NAME fuzz_replay.${name} COMMAND fuzz_replay ${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
  set_tests_properties(fuzz_replay.${name} PROPERTIES LABELS quick)
endforeach()
